import ParleyOperations

/// The broker console's page: agents, capability pools, request rates by outcome and the live event tail, drawn from
/// `/api/agents`, `/api/pools`, `/api/rates` (polled each second) and `/api/events` (server-sent events).
enum BrokerConsolePage {
    static let response = ConsolePage.response(title: "Parley broker", body: body, script: script)

    private static let body = """
        <section id="agents-view"><h2>Agents</h2><table><thead><tr><th>id</th><th>layer</th><th>capabilities</th><th>state</th>
        <th class="num">in flight</th><th class="num">last seen</th></tr></thead><tbody id="agents"></tbody></table></section>
        <section id="pools-view"><h2>Capability pools</h2><p id="queue"></p><table><thead><tr><th>capability</th>
        <th class="num">agents alive</th><th class="num">agents</th><th class="num">in flight</th></tr></thead><tbody id="pools"></tbody></table></section>
        <section id="rates-view"><h2>Requests per second by outcome (last 5 minutes)</h2>
        <svg id="chart" width="720" height="180" viewBox="0 0 720 180"></svg><div class="legend" id="legend"></div>
        <table><thead><tr><th>outcome</th><th class="num">total</th><th class="num">per second now</th></tr></thead><tbody id="outcomes"></tbody></table></section>
        <section id="events-view"><h2>Live events</h2><label>agent <input id="agent-filter" placeholder="all agents"></label>
        <div id="tail"><table><thead><tr><th>time</th><th>topic</th><th class="num">sequence</th><th>data</th></tr></thead>
        <tbody id="events"></tbody></table></div></section>
        """

    private static let script = #"""
        const colors = {OK: '#067647', DECLINED: '#7a5af8', FAILED: '#b42318', TIMEOUT: '#b54708', NO_ROUTE: '#475467',
          UNAUTHORIZED: '#c11574', OVERLOADED: '#dc6803', BAD_REQUEST: '#6941c6', UNAVAILABLE: '#344054', CANCELLED: '#98a2b3'};
        const ago = ms => ms < 1000 ? 'now' : Math.round(ms / 1000) + ' s ago';
        poll('/api/agents', 1000, d => fill('agents', d.agents.map(a => ({attrs: {'data-agent': a.id, 'data-state': a.state},
          cells: [a.id, a.layer, a.capabilities.join(', '), {text: a.state, cls: a.state}, {text: a.in_flight, cls: 'num'},
                  {text: ago(a.last_seen_ms), cls: 'num'}]})), 'no agents connected'));
        poll('/api/pools', 1000, d => {
          $('queue').textContent = d.pending + ' pending requests, ' + d.waiting + ' waiting for an agent';
          fill('pools', d.pools.map(p => ({attrs: {'data-capability': p.capability}, cells: [p.capability,
            {text: p.alive, cls: 'num'}, {text: p.agents, cls: 'num'}, {text: p.in_flight, cls: 'num'}]})), 'no capabilities offered');
        });
        poll('/api/rates', 1000, d => {
          const last = d.points.length ? d.points[d.points.length - 1].per_second : {};
          fill('outcomes', d.outcomes.filter(o => d.totals[o]).map(o => ({attrs: {'data-outcome': o},
            cells: [o, {text: d.totals[o], cls: 'num'}, {text: (last[o] || 0).toFixed(1), cls: 'num'}]})), 'no requests ended yet');
          const shown = d.outcomes.filter(o => d.points.some(p => p.per_second[o] > 0));
          const top = Math.max(1, ...d.points.flatMap(p => shown.map(o => p.per_second[o] || 0)));
          const x = p => 720 - p.seconds_ago / d.seconds * 720, y = v => 170 - v / top * 160;
          $('chart').innerHTML = '<text x="4" y="14" font-size="11">' + top.toFixed(1) + '/s</text>' + shown.map(o =>
            '<polyline fill="none" stroke-width="1.5" stroke="' + (colors[o] || '#000') + '" points="'
            + d.points.map(p => x(p).toFixed(1) + ',' + y(p.per_second[o] || 0).toFixed(1)).join(' ') + '"/>').join('');
          $('legend').innerHTML = shown.map(o => '<span style="color:' + (colors[o] || '#000') + '">■ ' + esc(o) + '</span>').join('');
        });
        let source = null;
        function follow() {
          if (source) source.close();
          $('events').innerHTML = '';
          const agent = $('agent-filter').value.trim();
          source = new EventSource('/api/events' + (agent ? '?agent=' + encodeURIComponent(agent) : ''));
          source.onmessage = m => {
            const e = JSON.parse(m.data), row = document.createElement('tr');
            if (e.type === 'event') {
              row.className = 'event'; row.dataset.topic = e.topic; row.dataset.sequence = e.sequence;
              row.innerHTML = '<td>' + esc(new Date(e.timestamp).toLocaleTimeString()) + '</td><td class="mono">' + esc(e.topic)
                + '</td><td class="num">#' + e.sequence + '</td><td class="mono">' + esc(e.data) + '</td>';
            } else if (e.type === 'gap') {
              row.className = 'gap'; row.dataset.topic = e.topic; row.dataset.from = e.from; row.dataset.to = e.to;
              row.innerHTML = '<td>GAP</td><td class="mono">' + esc(e.topic) + '</td><td class="num">#' + e.from + '–#' + e.to
                + '</td><td>' + (e.to - e.from + 1) + ' missed (noticed by ' + esc(e.noticed_by) + ')</td>';
            } else {
              row.className = 'dropped';
              row.innerHTML = '<td>GAP</td><td colspan="3">' + e.count + ' events dropped for this page (it did not keep up)</td>';
            }
            $('events').prepend(row);
            while ($('events').rows.length > 200) $('events').deleteRow(-1);
          };
        }
        $('agent-filter').addEventListener('change', follow);
        follow();
        """#
}
