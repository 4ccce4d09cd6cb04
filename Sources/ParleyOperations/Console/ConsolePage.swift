/// The frame of a console page: one self-contained HTML document (styles and scripts inline, nothing fetched but the
/// process's own `/api/`), so that it works offline and the executable stays a single file.
public enum ConsolePage {
    /// The page titled `title` with `body` (HTML) and `script` (JavaScript run after the shared helpers).
    public static func response(title: String, body: String, script: String) -> HTTPResponse {
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>\(style)</style></head>
            <body><header><h1>\(title)</h1><span id="status"></span></header>
            \(body)
            <script>\(helpers)
            \(script)</script></body></html>
            """
        return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(html.utf8))
    }

    private static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1d2433;background:#f6f7f9}
        header{display:flex;align-items:baseline;gap:1em}h1{font-size:1.3em}h2{font-size:1.05em;margin:1.4em 0 .4em}
        #status{color:#b42318}section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:.2em 1em 1em;margin-top:1em}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eef0f3}
        th{font-weight:600;color:#555}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        .alive{color:#067647}.away{color:#b54708}.gap{background:#fef3f2;color:#b42318;font-weight:600}
        .dropped{background:#fffaeb;color:#b54708}code,.mono{font-family:ui-monospace,monospace;font-size:.92em}
        svg{background:#fbfcfd;border:1px solid #eef0f3}.legend span{margin-right:1.2em}
        #tail{max-height:24em;overflow:auto}input{font:inherit;padding:.15em .4em}
        """

    /// Shared by every console page: escaping, polling an `/api/` endpoint, filling a table.
    private static let helpers = """
        const esc = s => String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]);
        const $ = id => document.getElementById(id);
        function poll(url, ms, render) {
          const tick = async () => {
            try {
              const r = await fetch(url, {cache: 'no-store', signal: AbortSignal.timeout(5000)});
              if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
              render(await r.json()); $('status').textContent = '';
            } catch (e) { $('status').textContent = String(e); console.error(url, e); }
            setTimeout(tick, ms);
          };
          tick();
        }
        // rows: [{attrs: {name: value}, cells: [text or {text, cls}]}]
        function fill(tbody, rows, empty) {
          $(tbody).innerHTML = rows.length ? rows.map(r => '<tr' + Object.entries(r.attrs || {}).map(([k, v]) => ' ' + k + '="' + esc(v) + '"').join('') + '>'
            + r.cells.map(c => typeof c === 'object' ? '<td class="' + esc(c.cls) + '">' + esc(c.text) + '</td>' : '<td>' + esc(c) + '</td>').join('') + '</tr>').join('')
            : '<tr><td colspan="9">' + esc(empty) + '</td></tr>';
        }
        """
}
