// The taskgate console: six views over the gateway's JSON endpoints (/console/api/...) and one
// event stream (/console/api/events) that keeps them live. Read-only: nothing here changes the
// gateway. Every value from the gateway is put on the page as text, never as markup.
'use strict';

(() => {
  // --- small helpers -------------------------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  // An element with attributes and children (strings become text nodes).
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const dash = (value) => (value === undefined || value === null || value === '' ? '–' : String(value));
  const pad = (n, width = 2) => String(n).padStart(width, '0');

  function clock(epoch, millis) {
    if (!epoch) return '–';
    const d = new Date(epoch * 1000);
    const text = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return millis ? `${text}.${pad(d.getMilliseconds(), 3)}` : text;
  }

  function dateTime(epoch) {
    if (!epoch) return '–';
    const d = new Date(epoch * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(epoch)}`;
  }

  function duration(seconds) {
    if (seconds === undefined || seconds === null || seconds < 0) return '–';
    const s = Math.floor(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function bytes(n) {
    if (n === undefined || n === null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  const ms = (value) => (value === undefined || value === null ? '–' : value < 10 ? value.toFixed(2) : value.toFixed(1));

  // --- signing in ---------------------------------------------------------------------------
  // With a token on the gateway, the page asks for it once and keeps it for this tab
  // (sessionStorage, gone when the tab closes); every request sends it as a Bearer header, so it
  // never appears in a URL, a log line or the browser's history, and no cookie carries it.

  const TOKEN_KEY = 'taskgate-console-token';
  const auth = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    // Set when the gateway refused the token (or wants one): every loader stops until sign-in.
    wanted: false,
    headers() { return this.token ? { Authorization: `Bearer ${this.token}` } : {}; },
  };

  class SignInNeeded extends Error {}

  // The gateway's JSON; the URL is built on the page's origin.
  async function api(path) {
    if (auth.wanted) throw new SignInNeeded('sign in first');
    const response = await fetch(`${location.origin}/console/api/${path}`, { cache: 'no-store', headers: auth.headers() });
    if (response.status === 401) { askToSignIn(); throw new SignInNeeded('sign in first'); }
    if (response.status === 400) { // a filter the gateway refused: say why
      const refusal = await response.json().catch(() => ({}));
      throw new Error(`${path.split('?')[0]}: ${refusal.error || 'HTTP 400'}`);
    }
    if (!response.ok) throw new Error(`${path.split('?')[0]}: HTTP ${response.status}`);
    return response.json();
  }

  function askToSignIn(refused) {
    const first = !auth.wanted;
    auth.wanted = true;
    stopStream();
    setLive('signed-out');
    $('#login').hidden = false;
    $('main').hidden = true;
    $('#sign-out').hidden = true;
    if (first) {
      $('#login-error').textContent = refused ? 'That token was not accepted.' : auth.token ? 'The gateway no longer accepts the token given before: sign in again.' : '';
      $('#login-error').hidden = !$('#login-error').textContent;
      $('#login-form').token.value = '';
      $('#login-form').token.focus();
    }
  }

  async function signIn(token) {
    const response = await fetch(`${location.origin}/console/api/health`, { cache: 'no-store', headers: { Authorization: `Bearer ${token}` } });
    if (response.status === 401) {
      $('#login-error').textContent = 'That token was not accepted.';
      $('#login-error').hidden = false;
      return;
    }
    auth.token = token;
    auth.wanted = false;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#login').hidden = true;
    $('main').hidden = false;
    $('#sign-out').hidden = false;
    show();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    auth.token = '';
    askToSignIn();
  }

  function outcomeBadge(outcome, fault) {
    if (outcome === 'ok') return el('span', { class: 'badge ok' }, 'ok');
    return el('span', {}, el('span', { class: 'badge fault' }, outcome), ' ', el('span', { class: 'fault-name' }, fault || ''));
  }

  // An id linked to its history in the audit view.
  function historyLink(kind, id) {
    return id === undefined || id === null || id === '' ? '–' : el('a', { href: `#audit?${kind}=${encodeURIComponent(id)}`, title: `the ${kind}'s history` }, id);
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function showError(view, error) {
    if (error instanceof SignInNeeded) return; // the sign-in form says it
    const note = view.querySelector('.load-error') || view.insertBefore(el('p', { class: 'empty load-error' }), view.children[1]);
    note.textContent = error ? `Could not load: ${error.message}` : '';
    note.hidden = !error;
  }

  // Runs load at most once per `gap` ms, and once more after the gap if asked meanwhile.
  function throttled(load, gap) {
    let last = 0, timer = null;
    return () => {
      const wait = last + gap - Date.now();
      if (wait <= 0) { last = Date.now(); load(); return; }
      if (!timer) timer = setTimeout(() => { timer = null; last = Date.now(); load(); }, wait);
    };
  }

  // The server's clock less the browser's, so that durations read right on a laptop whose
  // clock is off.
  let skew = 0;
  const now = () => Date.now() / 1000 + skew;

  // --- routing: #view?param=value --------------------------------------------------------------

  const route = { view: 'ports', params: new URLSearchParams() };

  function parseHash() {
    const [view, query] = location.hash.replace(/^#\/?/, '').split('?');
    route.view = views[view] ? view : 'ports';
    route.params = new URLSearchParams(query || '');
  }

  function setHash(view, params) {
    const query = new URLSearchParams([...params].filter(([, value]) => value !== ''));
    const hash = `#${view}${query.toString() ? `?${query}` : ''}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    route.params = query;
  }

  // --- the event stream ---------------------------------------------------------------------

  const stream = { source: null, url: '', open: false, retry: null, broken: false };

  function setLive(state) {
    const pill = $('#live');
    pill.textContent = state === 'live' ? 'live' : state === 'paused' ? 'live, calls paused' : state === 'signed-out' ? 'signed out' : 'reconnecting';
    pill.className = `pill ${state === 'down' ? 'down' : state === 'signed-out' ? '' : 'live'}`;
  }

  // One stream per page: the calls it carries follow the calls view's filter, and none are
  // sent while that view is not shown or is paused. Read with fetch rather than EventSource,
  // which cannot send the token; it comes back by itself 3 s after a break, as EventSource would.
  function connect() {
    if (auth.wanted) return;
    const wantCalls = route.view === 'calls' && !calls.paused;
    const query = wantCalls ? calls.filterQuery() : new URLSearchParams({ calls: '0' });
    const url = `${location.origin}/console/api/events?${query}`;
    if (stream.source && stream.url === url) {
      if (stream.open) setLive(calls.paused && route.view === 'calls' ? 'paused' : 'live');
      return;
    }
    stopStream();
    stream.url = url;
    const source = new AbortController();
    stream.source = source;
    readStream(url, source).catch(() => {}).finally(() => {
      if (stream.source !== source) return; // replaced or stopped meanwhile
      stream.source = null;
      stream.open = false;
      if (auth.wanted) return;
      if (stream.refused) { stream.refused = false; setLive('down'); return; } // asking again would not help
      stream.broken = true;
      setLive('down');
      clearTimeout(stream.retry);
      stream.retry = setTimeout(connect, 3000);
    });
  }

  function stopStream() {
    clearTimeout(stream.retry);
    const source = stream.source;
    stream.source = null;
    stream.open = false;
    if (source) source.abort();
  }

  const handlers = {
    calls: (data) => calls.receive(data),
    health: (data) => onHealth(data),
    changed: (data) => onChanged(data),
  };

  // Reads a text/event-stream: blocks of "event: NAME" and "data: JSON" lines ending in a blank line.
  async function readStream(url, source) {
    const response = await fetch(url, { cache: 'no-store', headers: auth.headers(), signal: source.signal });
    if (response.status === 401) { askToSignIn(); return; }
    if (response.status === 400) { stream.refused = true; return; } // a bad filter: the calls view says why
    if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
    stream.open = true;
    setLive(calls.paused && route.view === 'calls' ? 'paused' : 'live');
    if (stream.broken) { // back after a break (a restarted gateway, a network gap): what is shown may be stale
      stream.broken = false;
      views[route.view].show(route.params);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value;
      let end;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        let name = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) name = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data && handlers[name] && stream.source === source) handlers[name](JSON.parse(data));
      }
    }
  }

  let lastReloads = null;

  function onHealth(health) {
    const sample = health.sample;
    $('#rate').textContent = sample.calls;
    $('#fault-rate').textContent = sample.faults;
    $('#p99').textContent = health.latency.p99 === null ? '–' : `${ms(health.latency.p99)} ms`;
    $('#generation').textContent = health.generation;
    // A rule change that did not load: the generation before it serves on, which a shift lead
    // must see from whatever view is open.
    $('#reload-failed').hidden = health.last_reload_ok !== false;
    $('#rules-pill').classList.toggle('down', health.last_reload_ok === false);
    const upstreams = health.upstreams || [];
    $('#upstream-pill').hidden = upstreams.length === 0;
    if (upstreams.length) {
      const up = upstreams.filter((u) => u.state === 'up').length;
      $('#upstream').textContent = `${up}/${upstreams.length} up`;
      $('#upstream-pill').className = `pill ${up ? 'live' : 'down'}`;
    }
    if (lastReloads !== null && health.reloads !== lastReloads && route.view === 'rules') rules.load();
    lastReloads = health.reloads;
    calls.countWhilePaused(sample.calls);
    if (route.view === 'health') healthView.add(health);
  }

  function onChanged(changed) {
    for (const name of changed.views) {
      if (name === route.view && views[name].changed) views[name].changed();
    }
  }

  // --- Ports ----------------------------------------------------------------------------------

  const ports = {
    data: null,
    expanded: new Set(),
    params: new URLSearchParams(),
    show(params) {
      this.params = new URLSearchParams([...params].filter(([name]) => name === 'port' || name === 'offset'));
      $('#ports-search').port.value = this.params.get('port') || '';
      this.load();
    },
    find() {
      const port = $('#ports-search').port.value.trim();
      this.params = new URLSearchParams(port ? { port } : {});
      setHash('ports', this.params);
      this.load();
    },
    // Which ports the page shows of how many: the list is a page (open ports first), so say what is left out.
    pageNote() {
      const d = this.data, total = d.open_ports + d.closed_ports, note = $('#ports-page');
      const parts = [];
      if (this.params.get('port')) {
        parts.push(d.ports.length ? `port ${this.params.get('port')} only · ` : `port ${this.params.get('port')} has never been opened · `);
        parts.push(el('a', { href: '#ports' }, `all ${total} ports`));
      } else {
        const first = d.offset + 1, last = d.offset + d.ports.length, hidden = total - d.ports.length;
        parts.push(`${d.open_ports} open, ${d.closed_ports} closed`);
        if (hidden > 0) {
          parts.push(` · showing ${first}–${last}; ${hidden} more not shown · `);
          if (d.offset > 0) parts.push(el('a', { href: `#ports?offset=${Math.max(0, d.offset - d.limit)}` }, 'previous'), ' ');
          if (last < total) parts.push(el('a', { href: `#ports?offset=${last}` }, 'next'));
        }
      }
      note.replaceChildren(...parts);
    },
    async load() {
      try {
        this.data = await api(`ports${this.params.toString() ? `?${this.params}` : ''}`);
        skew = this.data.now - Date.now() / 1000;
        showError($('#view-ports'), null);
        this.render();
      } catch (error) { showError($('#view-ports'), error); }
    },
    render() {
      const rows = [];
      for (const port of this.data.ports) {
        const history = this.data.calls[String(port.port_id)] || [];
        const last = history[0];
        const select = port.categories.length ? `categories ${port.categories.join(', ')}` : 'any';
        rows.push(el('tr', { class: port.open ? 'open' : 'closed', 'data-port': port.port_id },
          el('td', {}, el('button', { class: 'link', type: 'button', title: 'its last calls', onclick: () => this.toggle(port.port_id) }, port.port_id)),
          el('td', {}, el('span', { class: `badge ${port.open ? 'open' : 'closed'}` }, port.open ? 'open' : 'closed')),
          el('td', {}, dash(port.port_mode)),
          el('td', {}, port.open ? select : '–'),
          el('td', {}, dash(port.bin_id)),
          el('td', {}, port.task_id ? el('a', { href: `#queue?task=${port.task_id}` }, port.task_id) : '–'),
          el('td', {}, port.taskgroup_id ? el('a', { href: `#audit?group=${port.taskgroup_id}` }, port.taskgroup_id) : '–'),
          el('td', { class: 'num bin-age', 'data-since': port.bin_opened || '' }, port.bin_opened ? duration(now() - port.bin_opened) : '–'),
          el('td', {}, port.open ? `open since ${dateTime(port.opened)}` : `closed ${dateTime(port.closed)}`),
          el('td', {}, last ? [clock(last.time), ' ', last.method, ' ', outcomeBadge(last.outcome, last.fault)] : '–')));
        if (this.expanded.has(port.port_id)) rows.push(this.details(history));
      }
      fill($('#ports-table tbody'), rows);
      this.pageNote();
      $('#ports-empty').hidden = this.data.ports.length > 0 || this.params.has('port');
    },
    details(history) {
      const lines = history.map((call) => el('tr', {},
        el('td', {}, clock(call.time, true)), el('td', {}, call.method), el('td', {}, outcomeBadge(call.outcome, call.fault)),
        el('td', {}, call.task_id !== null ? `task ${call.task_id}` : ''), el('td', {}, call.bin_id !== null ? `bin ${call.bin_id}` : ''),
        el('td', { class: 'num' }, `${ms(call.ms)} ms`)));
      return el('tr', { class: 'details' }, el('td', { colspan: 10 },
        history.length ? el('table', {}, el('tbody', {}, lines)) : 'No call since the gateway started.'));
    },
    toggle(portId) {
      if (this.expanded.has(portId)) this.expanded.delete(portId); else this.expanded.add(portId);
      this.render();
    },
    tick() {
      for (const cell of document.querySelectorAll('#ports-table .bin-age')) {
        const since = Number(cell.dataset.since);
        if (since) cell.textContent = duration(now() - since);
      }
    },
  };
  ports.changed = throttled(() => ports.load(), 1000);

  // --- Queue ----------------------------------------------------------------------------------

  function groupLine(group, index) {
    return el('li', { class: index === 0 ? 'next' : '' },
      `group ${group.taskgroup_id} · task ${dash(group.task_id)} · bin ${dash(group.bin_id)} `,
      el('span', { class: 'meta' }, `req ${group.req_time} · priority ${group.priority}`));
  }

  function queueCard(title, groups, queue, more) {
    // How much the category holds and which open ports pick from it: a category nobody picks
    // from, and an open port with nothing to pick (it starves), are what a shift lead looks for.
    const starving = queue && queue.ports.length && !groups.length;
    const about = queue && el('p', { class: `meta${queue.ports.length ? '' : ' unpicked'}` },
      queue.taskgroups === null ? '' : `${queue.taskgroups} group(s), ${queue.tasks} task(s) in the store · `,
      queue.ports.length ? `picked at port ${queue.ports.join(', ')}` : 'no open port selects it');
    const empty = starving ? `nothing to pick: port ${queue.ports.join(', ')} waits on it`
      : queue && queue.taskgroups ? 'nothing to pick (its groups are suspended, waiting or selected)' : 'nothing to pick';
    return el('div', { class: `card${starving ? ' starving' : ''}` }, el('h3', {}, title), about,
      groups.length ? el('ol', {}, groups.map(groupLine)) : el('p', { class: 'empty' }, empty),
      more ? el('p', { class: 'meta' }, queue ? el('a', { href: `#queue?category=${queue.category}` }, 'more queued: show this category alone') : 'more queued') : '');
  }

  const queue = {
    form: () => $('#queue-search'),
    params() {
      const form = this.form();
      return new URLSearchParams({ category: form.category.value.trim(), limit: form.limit.value });
    },
    async load() {
      try {
        const params = this.params();
        const data = await api(`queue?${new URLSearchParams([...params].filter(([, v]) => v !== ''))}`);
        skew = data.now - Date.now() / 1000;
        showError($('#view-queue'), null);
        const cards = data.categories.map((q) => queueCard(`category ${q.category}`, q.groups, q, q.more));
        if (!params.get('category')) cards.push(queueCard('any category', data.any, null, data.any_more));
        if (data.more_categories) cards.push(el('p', { class: 'meta' }, `more categories than shown: filter by category`));
        $('#queues').replaceChildren(...cards);
        fill($('#suspended-table tbody'), data.suspended.map((g) => el('tr', {},
          el('td', {}, g.taskgroup_id), el('td', {}, g.category), el('td', {}, g.req_time), el('td', {}, g.priority))));
        fill($('#future-table tbody'), data.future.map((g) => el('tr', {},
          el('td', {}, g.taskgroup_id), el('td', {}, g.category), el('td', {}, g.start_time), el('td', {}, g.req_time), el('td', {}, g.priority))));
      } catch (error) { showError($('#view-queue'), error); }
    },
    async search() {
      const form = this.form();
      const id = form.id.value.trim();
      const box = $('#search-result');
      this.remember();
      if (!id) { box.hidden = true; return; }
      try {
        const found = await api(`search?${form.kind.value}=${encodeURIComponent(id)}`);
        box.replaceChildren(...this.describe(form.kind.value, id, found));
        box.className = found[form.kind.value === 'group' ? 'group' : form.kind.value] ? '' : 'missing';
        box.hidden = false;
      } catch (error) { box.replaceChildren(`Could not search: ${error.message}`); box.hidden = false; }
    },
    describe(kind, id, found) {
      const parts = [];
      if (kind === 'task') {
        parts.push(found.task ? el('p', {}, el('b', {}, `task ${found.task.task_id}`),
          ` in bin ${found.task.bin_id}, group ${found.task.taskgroup_id}`, found.task.port_id ? `, open at port ${found.task.port_id}` : '')
          : el('p', {}, el('b', {}, `task ${id}`), ' is not in the store (done, cancelled or never created). ', el('a', { href: `#audit?task=${id}` }, 'Its history')));
      }
      if (found.group) {
        const g = found.group, s = g.standing;
        const where = s.state === 'queued' ? (s.ahead === 0 ? `next to be picked in category ${g.category}` : `${s.ahead}${s.ahead_capped ? '+' : ''} groups ahead of it in category ${g.category}`)
          : s.state === 'selected' ? `selected by port ${s.port_id}` : s.state === 'waiting' ? `waiting for its start time ${s.start_time}` : 'suspended';
        parts.push(el('p', {}, el('b', {}, `group ${g.taskgroup_id}`), ' ', el('span', { class: `badge ${s.state}` }, s.state), ` ${where}; req ${g.req_time}, priority ${g.priority}, ${g.tasks.length} task(s): `,
          g.tasks.map((t) => `${t.task_id} (bin ${t.bin_id}${t.port_id ? `, at port ${t.port_id}` : ''})`).join(', '), ' · ',
          el('a', { href: `#audit?group=${g.taskgroup_id}` }, 'history')));
      } else if (kind === 'group') {
        parts.push(el('p', {}, el('b', {}, `group ${id}`), ' is not in the store. ', el('a', { href: `#audit?group=${id}` }, 'Its history')));
      }
      if (found.bin) {
        const b = found.bin;
        parts.push(el('p', {}, el('b', {}, `bin ${b.bin_id}`), ` ${b.bin_mode ? `mode ${b.bin_mode}` : 'in the grid'}`, b.open_at ? `, open at port ${b.open_at}` : '',
          `; tasks: ${b.tasks.length ? b.tasks.map((t) => `${t.task_id} (group ${t.taskgroup_id})`).join(', ') : 'none'}`));
      }
      return parts;
    },
    remember() {
      const form = this.form();
      const params = this.params();
      if (form.id.value.trim()) params.set(form.kind.value, form.id.value.trim());
      setHash('queue', params);
    },
    restore(params) {
      const form = this.form();
      form.category.value = params.get('category') || '';
      form.limit.value = params.get('limit') || '20';
      for (const kind of ['task', 'group', 'bin']) {
        if (params.get(kind)) { form.kind.value = kind; form.id.value = params.get(kind); }
      }
    },
    show(params) {
      this.restore(params);
      this.load();
      this.search();
    },
  };
  queue.changed = throttled(() => { queue.load(); if (queue.form().id.value.trim()) queue.search(); }, 1000);

  // --- Calls ----------------------------------------------------------------------------------

  const MAX_CALL_ROWS = 300;
  const FRAME_ROWS = 60; // rows drawn in one animation frame at most

  const calls = {
    paused: false,
    pending: [],
    skipped: 0,
    lost: 0,
    undrawn: 0, // calls that came while frames were late: counted, not drawn
    sincePause: 0,
    scheduled: false,
    form: () => $('#calls-filter'),
    filterQuery() {
      const form = this.form(), query = new URLSearchParams();
      for (const name of ['method', 'outcome', 'client', 'task_id']) {
        const value = form[name].value.trim();
        if (value) query.set(name, value);
      }
      return query;
    },
    row(call) {
      return el('tr', {},
        el('td', { class: 'mono' }, clock(call.time, true)), el('td', {}, call.client), el('td', {}, call.method),
        el('td', {}, historyLink('task', call.task_id)), el('td', {}, historyLink('group', call.taskgroup_id)),
        el('td', {}, historyLink('port', call.port_id)), el('td', {}, dash(call.bin_id)),
        el('td', {}, outcomeBadge(call.outcome, call.fault)), el('td', {}, dash(call.policy)), el('td', { class: 'num' }, ms(call.ms)));
    },
    async load() {
      this.pending = [];
      this.skipped = this.lost = this.undrawn = 0;
      try {
        const data = await api(`calls?${this.filterQuery()}&limit=${MAX_CALL_ROWS}`);
        showError($('#view-calls'), null);
        fill($('#calls-table tbody'), data.calls.map((call) => this.row(call)));
      } catch (error) { showError($('#view-calls'), error); }
      this.note();
    },
    receive(batch) {
      if (this.paused || route.view !== 'calls') return;
      for (const call of batch.calls) this.pending.push(call);
      if (this.pending.length > 2 * FRAME_ROWS) { // frames come late: keep the newest, count the rest
        this.undrawn += this.pending.length - FRAME_ROWS;
        this.pending = this.pending.slice(-FRAME_ROWS);
      }
      this.skipped += batch.skipped;
      this.lost += batch.lost;
      if (!this.scheduled) { this.scheduled = true; requestAnimationFrame(() => this.flush()); }
    },
    // New rows go on top once per frame, at most FRAME_ROWS of them (the newest); the table keeps
    // MAX_CALL_ROWS, however fast calls come.
    flush() {
      this.scheduled = false;
      const tbody = $('#calls-table tbody');
      const sorted = this.pending.sort((a, b) => b.time - a.time);
      const fresh = sorted.slice(0, FRAME_ROWS);
      this.undrawn += sorted.length - fresh.length;
      this.pending = [];
      tbody.prepend(...fresh.map((call) => this.row(call)));
      while (tbody.rows.length > MAX_CALL_ROWS) tbody.deleteRow(-1);
      this.note();
    },
    note() {
      const parts = [];
      if (this.paused) parts.push(`Paused at ${clock(this.pausedAt)}: ${this.sincePause} calls since.`);
      else parts.push('Live: newest first.');
      if (this.skipped) parts.push(`${this.skipped} matching calls not shown (more than the stream carries, 500/s).`);
      if (this.lost) parts.push(`${this.lost} calls came faster than the console read them.`);
      if (this.undrawn) parts.push(`${this.undrawn} calls came faster than the page drew them.`);
      $('#calls-note').textContent = parts.join(' ');
    },
    togglePause() {
      this.paused = !this.paused;
      const button = $('#pause');
      button.textContent = this.paused ? 'Resume' : 'Pause';
      button.classList.toggle('paused', this.paused);
      if (this.paused) { this.pausedAt = now(); this.sincePause = 0; this.note(); } else this.load();
      connect();
    },
    countWhilePaused(n) {
      if (!this.paused) return;
      this.sincePause += n;
      if (route.view === 'calls') this.note();
    },
    show(params) {
      const form = this.form();
      for (const name of ['method', 'outcome', 'client', 'task_id']) form[name].value = params.get(name) || '';
      this.load();
    },
  };

  // --- Rules ----------------------------------------------------------------------------------

  function tile(label, value, bad) {
    return el('div', { class: `tile${bad ? ' bad' : ''}` }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value));
  }

  const rules = {
    async load() {
      try {
        const data = await api('rules');
        showError($('#view-rules'), null);
        const s = data.status, last = s.last_reload, check = data.self_check;
        $('#rules-summary').replaceChildren(
          tile('generation serving', s.generation),
          tile('reloads', `${s.reloads_ok} ok, ${s.reloads_failed} failed`, s.reloads_failed > 0),
          tile('last reload', last.ok ? `loaded (${last.trigger}) ${clock(last.time)}`
            : `FAILED (${last.trigger}) ${clock(last.time)}: generation ${s.generation} serves on`, !last.ok),
          tile('self-checks', check.present ? `passed, ${check.calls} calls` : 'none in this rule set'),
          tile('watching the rules', s.watching ? 'yes' : 'no (reload by signal)'));
        fill($('#reloads-table tbody'), data.history.map((r) => el('tr', {},
          el('td', {}, dateTime(r.time)), el('td', {}, r.trigger),
          el('td', {}, el('span', { class: `badge ${r.ok ? 'ok' : 'failed'}` }, r.ok ? 'loaded' : 'failed')),
          el('td', {}, r.generation), el('td', { class: 'num' }, r.ms.toFixed(1)),
          el('td', {}, r.error ? el('pre', { class: 'error' }, r.error) : ''))));
        fill($('#files-table tbody'), s.files.map((f) => el('tr', {},
          el('td', {}, f.name), el('td', { class: 'mono' }, f.path), el('td', { class: 'mono' }, f.sha256))));
      } catch (error) { showError($('#view-rules'), error); }
    },
    show() { this.load(); },
  };

  // --- Health ---------------------------------------------------------------------------------

  const PALETTE = ['#b3261e', '#8a5a00', '#6a1b9a', '#00695c', '#ad1457', '#37474f', '#5d4037', '#283593'];

  const healthView = {
    samples: [],
    rateChart: null,
    latencyChart: null,
    async load() {
      try {
        const data = await api('health');
        skew = data.now - Date.now() / 1000;
        showError($('#view-health'), null);
        this.samples = data.feed.samples;
        this.info = data;
        this.tiles(data.feed.latency.minute, data.feed.latency.quarter);
        this.upstreams(data.upstreams);
        this.draw();
      } catch (error) { showError($('#view-health'), error); }
    },
    add(health) {
      if (!this.info) return;
      this.samples.push(health.sample);
      if (this.samples.length > 900) this.samples.shift();
      this.info.connections = health.sample.connections;
      this.info.feed.stream.subscribers = health.subscribers;
      this.tiles(health.latency, this.info.feed.latency.quarter);
      this.upstreams(health.upstreams);
      this.draw();
    },
    tiles(minute, quarter) {
      const last = this.samples[this.samples.length - 1] || {};
      const info = this.info;
      $('#health-tiles').replaceChildren(
        tile('calls/s', dash(last.calls)), tile('faults/s', dash(last.faults), last.faults > 0),
        tile('latency p50 / p90 / p99 (1 min)', `${ms(minute.p50)} / ${ms(minute.p90)} / ${ms(minute.p99)} ms`),
        tile('latency p99 / p99.9 (15 min)', `${ms(quarter.p99)} / ${ms(quarter.p999)} ms`),
        tile('connections', dash(last.connections)), tile('store', bytes(last.store_bytes)), tile('WAL', bytes(last.wal_bytes)),
        tile('console streams', `${info.feed.stream.subscribers} open, ${info.feed.stream.dropped} dropped`),
        tile('gateway', `${info.version}, ${info.workers} worker(s), up ${duration(info.uptime_seconds + (now() - info.now))}`));
    },
    upstreams(list) {
      fill($('#upstreams-table tbody'), list.map((u) => el('tr', {},
        el('td', { class: 'mono' }, u.url), el('td', {}, el('span', { class: `badge ${u.state}` }, u.state)), el('td', {}, dateTime(u.since)),
        el('td', { class: 'num' }, u.latency_ms === null ? '–' : `${ms(u.latency_ms)} ms`), el('td', { class: 'num' }, u.failures),
        el('td', {}, u.last_error ? `${u.last_error} (${clock(u.last_error_at)})` : '–'))));
      $('#upstreams-table').hidden = list.length === 0;
      $('#upstreams-empty').hidden = list.length > 0;
    },
    // Faults by code: the busiest codes of the window each get a line, the rest one line more.
    series() {
      const totals = new Map();
      for (const s of this.samples) for (const [code, n] of Object.entries(s.codes)) totals.set(code, (totals.get(code) || 0) + n);
      const codes = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([code]) => code).slice(0, PALETTE.length - 1);
      const labels = this.samples.map((s) => clock(s.time));
      const datasets = [{ label: 'calls/s', data: this.samples.map((s) => s.calls), borderColor: '#1f5f8b', backgroundColor: '#1f5f8b' }];
      // Faults on an axis of their own (right): beside thousands of calls a second, a few
      // faults a second would lie flat on zero.
      const names = (this.info && this.info.fault_names) || {};
      codes.forEach((code, i) => datasets.push({
        label: code === 'other' ? 'other faults/s' : `${code} ${names[code] || 'fault'}/s`,
        data: this.samples.map((s) => s.codes[code] || 0), borderColor: PALETTE[i], backgroundColor: PALETTE[i],
        yAxisID: 'faults',
      }));
      return { labels, datasets };
    },
    draw() {
      const rates = this.series();
      const latency = {
        labels: rates.labels,
        datasets: [['p50', '#1e7b3a'], ['p90', '#8a5a00'], ['p99', '#b3261e']].map(([name, color]) => ({
          // a second without calls has no latency: a gap in the line, never a straight line across it
          label: name, data: this.samples.map((s) => (s.calls ? s[name] : null)), borderColor: color, backgroundColor: color, spanGaps: false,
        })),
      };
      if (!window.Chart) return this.table(rates);
      this.rateChart = this.chart(this.rateChart, '#rate-chart', rates, {
        y: { beginAtZero: true, title: { display: true, text: 'calls/s' } },
        faults: { position: 'right', beginAtZero: true, suggestedMax: 5, grid: { drawOnChartArea: false },
          title: { display: true, text: 'faults/s', color: '#b3261e' }, ticks: { color: '#b3261e' } },
      });
      this.latencyChart = this.chart(this.latencyChart, '#latency-chart', latency, { y: { beginAtZero: true, title: { display: true, text: 'ms' } } });
    },
    chart(chart, canvas, data, axes) {
      if (chart) {
        chart.data = data;
        chart.update('none');
        return chart;
      }
      return new window.Chart($(canvas), {
        type: 'line',
        data,
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
          interaction: { mode: 'index', intersect: false },
          scales: { x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } }, ...axes },
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
        },
      });
    },
    // Without Chart.js (libjs-chart.js not installed) the last samples are listed instead.
    table(rates) {
      const table = $('#rate-table');
      const recent = rates.labels.map((label, i) => el('tr', {}, el('td', {}, label), ...rates.datasets.map((d) => el('td', { class: 'num' }, d.data[i])))).slice(-15).reverse();
      table.replaceChildren(el('thead', {}, el('tr', {}, el('th', {}, 'time'), ...rates.datasets.map((d) => el('th', {}, d.label)))), el('tbody', {}, recent));
      table.hidden = false;
      for (const box of document.querySelectorAll('.chart-box')) box.hidden = true;
    },
    show() { this.load(); },
  };

  // --- Audit ----------------------------------------------------------------------------------

  const AUDIT_KINDS = { task: 'a task id', group: 'a task group id', port: 'a port id' };
  const audit = {
    form: () => $('#audit-search'),
    async load() {
      const form = this.form(), id = form.id.value.trim();
      setHash('audit', new URLSearchParams(id ? { [form.kind.value]: id } : {}));
      try {
        // the server refuses such an id too (400); asking it would only add an error to the browser's log
        if (id && !/^\d{1,18}$/.test(id)) throw new Error(`${form.kind.value} must be ${AUDIT_KINDS[form.kind.value]} (a whole number of at most 18 digits), not "${id}"`);
        const data = await api(id ? `audit?${form.kind.value}=${encodeURIComponent(id)}` : 'audit?limit=50');
        showError($('#view-audit'), null);
        $('#audit-note').textContent = !id
          ? `The newest ${data.records.length} changes, of any task, group or port: give an id above (or follow a task, group or port link in another view) for one's history.`
          : `${data.records.length} record(s) about ${form.kind.value} ${id}`
            + (form.kind.value === 'task' && data.taskgroup_id ? `, with those of its group ${data.taskgroup_id}` : '')
            + (form.kind.value === 'group' ? ', with those of its tasks' : '')
            + (data.whole ? `, newest first, among all ${data.scanned} audit records.`
              : `, newest first, among the newest ${data.scanned} audit records (older ones are not searched).`);
        fill($('#audit-table tbody'), data.records.map((r) => el('tr', {},
          el('td', { title: r.time }, Number.isNaN(Date.parse(r.time)) ? r.time : dateTime(Date.parse(r.time) / 1000)), el('td', {}, r.method), el('td', {}, outcomeBadge(r.outcome, '')), el('td', {}, dash(r.client)),
          el('td', { class: 'mono' }, dash(r.request_id)), el('td', { class: 'mono' }, r.params))));
      } catch (error) { // a refused id (400) or a failure: no records shown under that id
        $('#audit-note').textContent = '';
        fill($('#audit-table tbody'), []);
        showError($('#view-audit'), error);
      }
    },
    show(params) {
      const form = this.form();
      form.id.value = ''; // the link says what to show: without an id, the newest changes
      for (const kind of ['task', 'group', 'port']) {
        if (params.get(kind)) { form.kind.value = kind; form.id.value = params.get(kind); }
      }
      this.load();
    },
  };
  audit.changed = throttled(() => audit.load(), 1000);

  // --- the page -----------------------------------------------------------------------------

  const views = {
    ports: { show: (params) => ports.show(params), changed: ports.changed },
    queue: { show: (params) => queue.show(params), changed: queue.changed },
    calls: { show: (params) => calls.show(params) },
    rules: { show: () => rules.show() },
    health: { show: () => healthView.show() },
    audit: { show: (params) => audit.show(params), changed: audit.changed },
  };

  function show() {
    parseHash();
    for (const name of Object.keys(views)) $(`#view-${name}`).hidden = name !== route.view;
    for (const link of document.querySelectorAll('nav a')) link.classList.toggle('current', link.dataset.view === route.view);
    document.title = `taskgate · ${route.view}`;
    views[route.view].show(route.params);
    connect();
  }

  $('#queue-search').addEventListener('submit', (e) => { e.preventDefault(); queue.search(); queue.load(); });
  $('#queue-search').limit.addEventListener('change', () => { queue.remember(); queue.load(); });
  $('#calls-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    setHash('calls', calls.filterQuery());
    calls.load();
    connect();
  });
  $('#pause').addEventListener('click', () => calls.togglePause());
  $('#audit-search').addEventListener('submit', (e) => { e.preventDefault(); audit.load(); });
  $('#ports-search').addEventListener('submit', (e) => { e.preventDefault(); ports.find(); });
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = e.target.token.value.trim();
    if (token) signIn(token).catch((error) => { $('#login-error').textContent = `Could not reach the gateway: ${error.message}`; $('#login-error').hidden = false; });
  });
  $('#sign-out').addEventListener('click', signOut);
  $('#sign-out').hidden = !auth.token;
  window.addEventListener('hashchange', show);
  setInterval(() => { if (route.view === 'ports') ports.tick(); }, 1000);
  setInterval(() => { if (route.view === 'ports') ports.load(); else if (route.view === 'queue') queue.load(); }, 5000);
  show();
})();
