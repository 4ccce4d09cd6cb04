import ParleyOperations

/// The gateway console's page: the layer graph (layers as nodes, policy edges with their allow/deny counts, edges no
/// rule covers drawn dashed in red once a call was denied on them), from `/api/graph` polled each second.
enum GatewayConsolePage {
    static let response = ConsolePage.response(title: "Parley gateway", body: body, script: script)

    private static let body = """
        <section id="graph-view"><h2>Layer graph</h2><p>Source: <code id="source"></code>. Green: a rule allows the edge;
        red dashed: no rule, calls denied by default. Each edge shows ✓ allowed and ✗ denied calls since the gateway started.</p>
        <svg id="graph" width="720" height="420" viewBox="0 0 720 420"><defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs><g id="edges-layer"></g><g id="nodes-layer"></g></svg>
        <table><thead><tr><th>from</th><th>to</th><th>rule</th><th class="num">allowed</th><th class="num">denied</th></tr></thead>
        <tbody id="edges"></tbody></table></section>
        """

    private static let script = #"""
        poll('/api/graph', 1000, d => {
          $('source').textContent = d.policy_source;
          const at = {}, n = d.layers.length;
          d.layers.forEach((l, i) => { const a = -Math.PI / 2 + 2 * Math.PI * i / n;
            at[l] = {x: 360 + 260 * Math.cos(a), y: 210 + 160 * Math.sin(a)}; });
          $('nodes-layer').innerHTML = d.layers.map(l => '<g data-layer="' + esc(l) + '"><rect x="' + (at[l].x - 62) + '" y="' + (at[l].y - 16)
            + '" width="124" height="32" rx="6" fill="#eef4ff" stroke="#3538cd"/><text x="' + at[l].x + '" y="' + (at[l].y + 5)
            + '" text-anchor="middle" font-size="13">' + esc(l) + '</text></g>').join('');
          $('edges-layer').innerHTML = d.edges.filter(e => e.in_policy || e.denied > 0).map(e => {
            const a = at[e.from], b = at[e.to], dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
            const ux = dx / len, uy = dy / len, s = {x: a.x + ux * 40, y: a.y + uy * 24}, t = {x: b.x - ux * 40, y: b.y - uy * 24};
            const c = {x: (s.x + t.x) / 2 - uy * 40, y: (s.y + t.y) / 2 + ux * 40};
            const color = e.in_policy ? '#067647' : '#b42318';
            return '<g class="edge" data-from="' + esc(e.from) + '" data-to="' + esc(e.to) + '"><path d="M' + s.x + ',' + s.y + ' Q' + c.x + ','
              + c.y + ' ' + t.x + ',' + t.y + '" fill="none" stroke="' + color + '" stroke-width="2"' + (e.in_policy ? '' : ' stroke-dasharray="6 4"')
              + ' marker-end="url(#arrow)"/><text x="' + c.x + '" y="' + c.y + '" text-anchor="middle" font-size="12" fill="' + color + '">✓'
              + e.allowed + ' ✗' + e.denied + '</text></g>';
          }).join('');
          fill('edges', d.edges.map(e => ({attrs: {'data-from': e.from, 'data-to': e.to, 'class': e.in_policy ? '' : 'gap'},
            cells: [e.from, e.to, e.rule, {text: e.allowed, cls: 'num'}, {text: e.denied, cls: 'num'}]})), 'the policy has no rules');
        });
        """#
}
