// Ferry dashboard page. Every value from the API reaches the page through textContent or DOM
// properties, never innerHTML: table names, column names and values are data, not markup.
'use strict';

(() => {
  const main = document.getElementById('main');
  const charts = [];

  /** Create an element; string and number children become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // This start's access token: from the URL ferry printed (?token=…), kept in this tab's sessionStorage
  // (per origin, so not shared with other ports the way a cookie on 127.0.0.1 would be) and taken out of
  // the address bar, so a reload works and a screen share or a copied link does not show it.
  const TOKEN_KEY = 'ferry-dashboard-token';
  const token = (() => {
    const params = new URLSearchParams(location.search);
    const fromUrl = params.get('token');
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
      return fromUrl;
    }
    return sessionStorage.getItem(TOKEN_KEY) || '';
  })();

  async function api(path, init) {
    const headers = { ...((init && init.headers) || {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(path, { ...(init || {}), headers });
    let body;
    try {
      body = await res.json();
    } catch {
      throw new Error(`${res.status} ${res.statusText}`);
    }
    if (!res.ok)
      throw new Error(
        body && typeof body.error === 'string' ? body.error : `${res.status} ${res.statusText}`,
      );
    return body;
  }

  const fmtInt = (n) => Number(n).toLocaleString('en-US');
  const fmtMs = (ms) =>
    ms === undefined || ms === null
      ? '–'
      : ms >= 1000
        ? `${(ms / 1000).toFixed(2)} s`
        : `${Math.round(ms)} ms`;

  /** A cell's text: null stays visible as null, objects as JSON, long text cut (full text in the tooltip). */
  function cell(value, extraClass) {
    if (value === null || value === undefined)
      return el('td', { class: `null ${extraClass || ''}`, text: 'null' });
    const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
    const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    return el('td', { class: extraClass, title: text.length > 40 ? text : undefined, text: shown });
  }

  function grid(columns, rows, numeric) {
    const isNum = (i) => numeric && numeric[i];
    return el(
      'table',
      { class: 'grid' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          columns.map((c, i) => el('th', { class: isNum(i) ? 'num' : undefined, text: c })),
        ),
      ),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            {},
            r.map((v, i) => cell(v, isNum(i) ? 'num' : undefined)),
          ),
        ),
      ),
    );
  }

  function errorBox(error) {
    return el('div', {
      class: 'error',
      role: 'alert',
      text: error instanceof Error ? error.message : String(error),
    });
  }

  function setPage(page, ...content) {
    for (const c of charts.splice(0)) c.destroy();
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
    main.dataset.page = page;
    main.replaceChildren(...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  // ---------------------------------------------------------------- overview
  async function overview() {
    const o = await api('/api/overview');
    document.getElementById('pipeline-name').textContent =
      `${o.pipeline.name} → ${o.pipeline.destinationType} / ${o.pipeline.dataset}`;
    const totalRows = Object.values(o.rowCounts).reduce((a, b) => a + b, 0);
    const card = (label, value, id) =>
      el(
        'div',
        { class: 'card' },
        el('div', { class: 'label', text: label }),
        el('div', { class: 'value', id, text: value }),
      );
    const cards = el(
      'div',
      { class: 'cards' },
      card('Pipeline', o.pipeline.name),
      card('Destination', `${o.pipeline.destinationType} · ${o.pipeline.dataset}`),
      o.schemas.map((s) =>
        card(`Schema ${s.name}`, `v${s.version} · ${s.versionHash.slice(0, 8)}`, `schema-version-${s.name}`),
      ),
      card('Tables', fmtInt(o.tables.length)),
      card('Rows', fmtInt(totalRows), 'total-rows'),
      card('Loads', fmtInt(o.loads.length)),
    );

    const counts = el(
      'table',
      { id: 'row-counts' },
      el('thead', {}, el('tr', {}, el('th', { text: 'table' }), el('th', { class: 'num', text: 'rows' }))),
      el(
        'tbody',
        {},
        o.tables.map((t) =>
          el(
            'tr',
            { 'data-table': t.name },
            el(
              'td',
              { class: t.parent ? 'child' : undefined },
              el('a', { href: `#/data/${encodeURIComponent(t.name)}`, text: t.name }),
            ),
            el('td', { class: 'num', 'data-rows': String(t.rows), text: fmtInt(t.rows) }),
          ),
        ),
      ),
    );

    const run = o.lastRun;
    const stages = ['sync', 'extract', 'normalize', 'load', 'total'];
    const lastRun = run
      ? el(
          'div',
          { class: 'panel', id: 'last-run' },
          el('p', {
            class: 'muted',
            text: `Loads ${run.loadIds.join(', ') || 'none'} · schema v${run.schemaVersion}${run.empty ? ' · nothing new' : ''}`,
          }),
          grid(
            ['stage', 'duration'],
            stages.filter((s) => run.timings[s] !== undefined).map((s) => [s, fmtMs(run.timings[s])]),
            [false, true],
          ),
          Object.keys(run.rowCounts).length > 0
            ? grid(
                ['table', 'rows loaded'],
                Object.entries(run.rowCounts).map(([t, n]) => [t, fmtInt(n)]),
                [false, true],
              )
            : null,
        )
      : el('div', {
          class: 'panel muted',
          text: 'No run recorded on this machine (the trace is local; the data above is read from the destination).',
        });

    const loads = el(
      'div',
      { class: 'panel' },
      o.loads.length === 0
        ? el('p', { class: 'muted', text: 'No committed loads.' })
        : grid(
            ['load id', 'inserted at', 'schema', 'status', 'rows per table (current)'],
            o.loads.map((l) => [
              l.loadId,
              l.insertedAt,
              `${l.schemaName} · ${l.schemaVersionHash.slice(0, 8)}`,
              l.status,
              Object.entries(l.rows)
                .map(([t, n]) => `${t}: ${fmtInt(n)}`)
                .join(', ') || '—',
            ]),
          ),
    );

    const state = o.state
      ? el(
          'div',
          { class: 'panel', id: 'state' },
          el('p', {
            class: 'muted',
            text: `State version ${o.state.version} · last load ${o.state.lastLoadId || '–'}`,
          }),
          o.state.cursors.length > 0
            ? grid(
                ['source', 'resource', 'cursor', 'initial value', 'last value'],
                o.state.cursors.map((c) => [c.source, c.resource, c.cursorPath, c.initialValue, c.lastValue]),
              )
            : el('p', { class: 'muted', text: 'No incremental cursors.' }),
          o.state.extras.map((x) =>
            el(
              'div',
              {},
              el('h3', { text: `${x.source} / ${x.resource}` }),
              el('pre', { text: JSON.stringify(x.extras, null, 2) }),
            ),
          ),
        )
      : el('div', { class: 'panel muted', text: 'No state committed yet.' });

    setPage(
      'overview',
      el('h1', { text: 'Overview' }),
      cards,
      el('h2', { text: 'Rows per table' }),
      el('div', { class: 'panel' }, counts),
      el('h2', { text: 'Last run (duration per stage)' }),
      lastRun,
      el('h2', { text: 'Loads (newest first)' }),
      loads,
      el('h2', { text: 'State and incremental cursors' }),
      state,
    );
  }

  // ---------------------------------------------------------------- schema
  async function schema() {
    const s = await api('/api/schema');
    const sections = s.schemas.map((sc) => {
      const children = new Map();
      for (const t of sc.tables) {
        const list = children.get(t.parent) || [];
        list.push(t);
        children.set(t.parent, list);
      }
      const tree = (parent) =>
        el(
          'ul',
          { class: parent === null ? 'tree' : undefined },
          (children.get(parent) || []).map((t) =>
            el(
              'li',
              {},
              el('a', { href: `#/schema/${encodeURIComponent(t.name)}`, text: t.name }),
              el('span', { class: 'tag', text: t.writeDisposition }),
              children.has(t.name) ? tree(t.name) : null,
            ),
          ),
        );
      const tables = sc.tables.map((t) =>
        el(
          'div',
          { class: 'schema-table panel', id: `table-${t.name}`, 'data-table': t.name },
          el(
            'h3',
            {},
            t.name,
            t.parent ? el('span', { class: 'tag', text: `child of ${t.parent}` }) : null,
            el('span', {
              class: 'tag',
              text: t.writeDisposition + (t.mergeStrategy ? ` (${t.mergeStrategy})` : ''),
            }),
          ),
          grid(
            ['column', 'type', 'nullable', 'key'],
            t.columns.map((c) => [
              c.name,
              c.dataType,
              c.nullable ? 'yes' : 'no',
              [c.primaryKey ? 'primary' : '', c.mergeKey ? 'merge' : '', c.variant ? 'variant' : '']
                .filter(Boolean)
                .join(', '),
            ]),
          ),
        ),
      );
      return el(
        'section',
        {},
        el('h2', { text: `Schema ${sc.name} · version ${sc.version} · ${sc.versionHash}` }),
        el('div', { class: 'panel', id: 'table-tree' }, tree(null)),
        tables,
      );
    });
    setPage(
      'schema',
      el('h1', { text: 'Schema' }),
      sections.length > 0 ? sections : el('p', { class: 'muted', text: 'No schema stored yet.' }),
    );
  }

  // ---------------------------------------------------------------- data
  async function data(name, offset) {
    const s = await api('/api/schema');
    const names = s.schemas.flatMap((sc) => sc.tables.map((t) => t.name));
    const picker = el(
      'select',
      {
        id: 'table-picker',
        'aria-label': 'table',
        onchange: (e) => (location.hash = `#/data/${encodeURIComponent(e.target.value)}`),
      },
      el('option', { value: '', text: 'choose a table…' }),
      names.map((n) => {
        const o = el('option', { value: n, text: n });
        o.selected = n === name;
        return o;
      }),
    );
    if (!name) {
      setPage('data', el('h1', { text: 'Data' }), el('div', { class: 'pager' }, picker));
      return;
    }
    const limit = 50;
    const page = await api(`/api/tables/${encodeURIComponent(name)}?offset=${offset}&limit=${limit}`);
    const go = (o) => () => (location.hash = `#/data/${encodeURIComponent(name)}?offset=${Math.max(0, o)}`);
    const last = Math.min(page.total, page.offset + page.rows.length);
    const pager = el(
      'div',
      { class: 'pager' },
      picker,
      el(
        'button',
        {
          class: 'secondary',
          id: 'prev-page',
          onclick: go(page.offset - limit),
          disabled: page.offset === 0,
        },
        '‹ previous',
      ),
      el('span', {
        id: 'page-info',
        text:
          page.total === 0
            ? 'no rows'
            : `rows ${fmtInt(page.offset + 1)}–${fmtInt(last)} of ${fmtInt(page.total)}`,
      }),
      el(
        'button',
        {
          class: 'secondary',
          id: 'next-page',
          onclick: go(page.offset + limit),
          disabled: last >= page.total,
        },
        'next ›',
      ),
    );
    const numeric = page.columns.map(
      (c) => c.dataType === 'bigint' || c.dataType === 'double' || c.dataType === 'decimal',
    );
    setPage(
      'data',
      el('h1', {}, 'Data · ', el('span', { id: 'data-table-name', text: name })),
      pager,
      el(
        'div',
        { class: 'panel', id: 'data-grid' },
        grid(
          page.columns.map((c) => c.name),
          page.rows,
          numeric,
        ),
      ),
    );
  }

  // ---------------------------------------------------------------- SQL
  let lastSql = '';
  function sql() {
    const box = el('textarea', { id: 'sql-text', spellcheck: 'false', 'aria-label': 'SQL query' });
    box.value = lastSql || 'select * from information_schema.tables limit 20';
    const result = el('div', { id: 'sql-result' });
    const run = async () => {
      lastSql = box.value;
      button.disabled = true;
      result.replaceChildren(el('p', { class: 'muted', text: 'running…' }));
      try {
        const r = await api('/api/sql', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ sql: box.value }),
        });
        result.replaceChildren(
          el('p', {
            class: 'muted',
            id: 'sql-summary',
            text: `${fmtInt(r.rows.length)} row${r.rows.length === 1 ? '' : 's'}${r.truncated ? ' (first 1,000 shown)' : ''} · ${r.ms} ms`,
          }),
          el('div', { class: 'panel' }, grid(r.columns, r.rows)),
        );
      } catch (error) {
        result.replaceChildren(errorBox(error));
      } finally {
        button.disabled = false;
      }
    };
    const button = el('button', { id: 'run-sql', onclick: run }, 'Run');
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run();
    });
    setPage(
      'sql',
      el('h1', { text: 'SQL (read-only)' }),
      el('p', {
        class: 'muted',
        text: 'One read-only query (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN). Changes to data or schema and multiple statements are refused. Ctrl+Enter runs.',
      }),
      box,
      el('div', { class: 'pager' }, button),
      result,
    );
  }

  // ---------------------------------------------------------------- charts
  const STATUS_COLORS = {
    Success: '#27ae60',
    Error: '#eb5757',
    Cancelled: '#9aa0ab',
    'In progress': '#0bacd9',
  };
  const PALETTE = [
    '#2458d6',
    '#e07b00',
    '#7b3fc4',
    '#119c8d',
    '#c2372b',
    '#6b8e23',
    '#b5427a',
    '#3a7ca5',
    '#8c6d1f',
    '#555b6e',
  ];

  async function chartsPage() {
    const c = await api('/api/charts/dbt-runs');
    if (!c.available) {
      setPage(
        'charts',
        el('h1', { text: 'dbt Cloud charts' }),
        el('p', { class: 'muted', id: 'charts-unavailable', text: c.reason }),
      );
      return;
    }
    const perDayCanvas = el('canvas', {
      id: 'chart-runs-per-day',
      'aria-label': 'dbt Cloud runs per day by status',
      role: 'img',
    });
    const durCanvas = el('canvas', {
      id: 'chart-durations',
      'aria-label': 'p50 and p95 run duration per job per day',
      role: 'img',
    });
    const jobList = el(
      'div',
      { class: 'panel', id: 'job-list' },
      grid(
        ['job', 'job id', 'finished runs'],
        c.durations.jobs.map((j) => [j.name, j.jobId, fmtInt(j.runs)]),
        [false, false, true],
      ),
    );
    setPage(
      'charts',
      el('h1', { text: 'dbt Cloud charts' }),
      el('h2', { text: 'Runs per day by status (created, UTC)' }),
      el('div', { class: 'panel chart-box' }, perDayCanvas),
      el('h2', { text: 'Run duration per job: p50 (solid) and p95 (dashed), seconds, by finish day (UTC)' }),
      el('div', { class: 'panel chart-box' }, durCanvas),
      el('h2', { text: 'Jobs' }),
      jobList,
    );
    const Chart = window.Chart;
    if (!Chart) {
      main.append(errorBox('Chart.js did not load (/vendor/chart.umd.js).'));
      return;
    }
    charts.push(
      new Chart(perDayCanvas, {
        type: 'bar',
        data: {
          labels: c.runsPerDay.days,
          datasets: c.runsPerDay.series.map((s) => ({
            label: s.status,
            data: s.counts,
            backgroundColor: STATUS_COLORS[s.status] || '#555b6e',
            stack: 'runs',
          })),
        },
        options: {
          maintainAspectRatio: false,
          animation: false,
          scales: {
            x: { stacked: true },
            y: { stacked: true, beginAtZero: true, title: { display: true, text: 'runs' } },
          },
        },
      }),
    );
    const datasets = [];
    c.durations.jobs.forEach((j, i) => {
      const color = PALETTE[i % PALETTE.length];
      datasets.push({
        label: `${j.name} p50`,
        data: j.p50,
        borderColor: color,
        backgroundColor: color,
        spanGaps: true,
        tension: 0.2,
      });
      datasets.push({
        label: `${j.name} p95`,
        data: j.p95,
        borderColor: color,
        backgroundColor: color,
        borderDash: [6, 4],
        spanGaps: true,
        tension: 0.2,
      });
    });
    charts.push(
      new Chart(durCanvas, {
        type: 'line',
        data: { labels: c.durations.days, datasets },
        options: {
          maintainAspectRatio: false,
          animation: false,
          scales: { y: { beginAtZero: true, title: { display: true, text: 'seconds' } } },
          plugins: { legend: { position: 'bottom' } },
        },
      }),
    );
  }

  // ---------------------------------------------------------------- router
  async function route() {
    const hash = location.hash.replace(/^#\/?/, '');
    const [pathPart, query] = hash.split('?');
    const [page, ...rest] = (pathPart || 'overview').split('/');
    const arg = rest.length > 0 ? decodeURIComponent(rest.join('/')) : '';
    const offset = Number(new URLSearchParams(query || '').get('offset') || 0);
    main.setAttribute('aria-busy', 'true');
    try {
      if (page === 'schema') {
        await schema();
        if (arg) document.getElementById(`table-${arg}`)?.scrollIntoView();
      } else if (page === 'data') await data(arg, offset);
      else if (page === 'sql') sql();
      else if (page === 'charts') await chartsPage();
      else await overview();
    } catch (error) {
      setPage(page, el('h1', { text: page }), errorBox(error));
    } finally {
      main.setAttribute('aria-busy', 'false');
      main.dataset.ready = String(Date.now());
    }
  }

  window.addEventListener('hashchange', route);
  route();
})();
