/*!
 * 代发门户 · portal.js — the portal's only first-party script.
 *
 * Loaded with <script src=".../portal.js" defer> after htmx. It works under a strict
 * Content-Security-Policy (script-src 'self'): there is no inline script, no inline event
 * handler, no eval. Everything is wired through data attributes and (htmx) events, by event
 * delegation on `document`, so it keeps working for content swapped in by htmx.
 *
 * Contract (what templates and views may rely on)
 * ------------------------------------------------
 * Toasts
 *   #toasts.toasts            container (created if missing); server-rendered `.toast` elements
 *                             inside it (flash messages) become auto-dismissing toasts on load
 *                             and whenever htmx inserts them (e.g. hx-swap-oob="beforeend:#toasts").
 *                             Level from class `toast-<level>` or `data-level`; `data-sticky` = no timeout.
 *   event `showToast`         HX-Trigger: {"showToast": {"message": "已分配 3 单", "level": "success"}}
 *                             level: success | error | info | warning (default info).
 *                             Also accepted: {"showToast": "text"} and {"showToast": [{…}, "text"]}.
 *                             success/info/warning close after 4 s, error after 8 s; hover or focus
 *                             pauses the timer; a 关闭 button closes at once.
 *                             {"key": "import-7"} replaces the live toast with the same key;
 *                             {"sticky": true} stays until replaced or closed.
 *   window.Portal.toast(message, level)   the same from other code (tests, console).
 *
 * htmx errors
 *   Any 4xx/5xx response is never swapped into the page (htmx:beforeSwap forces shouldSwap=false),
 *   except when the requesting element is inside [data-swap-errors] — value: status codes separated
 *   by spaces/commas, default "422" — e.g. a form re-rendered with field errors.
 *   htmx:responseError → error toast: the response body if it is short text/plain (or a JSON
 *   {"error": {"message"}}), else a Chinese message for the status (「操作失败，请稍后重试」 by
 *   default). No toast is added when the response itself carries a showToast HX-Trigger.
 *   HX-Redirect (e.g. 401 → login) is handled by htmx itself.
 *   htmx:sendError (status 0, network) → 「网络连接失败，请检查网络」; htmx:timeout → 「请求超时，请稍后重试」.
 *
 * Busy state
 *   While an htmx request runs, the requesting button (or the form's submitter) gets
 *   aria-busy="true" (CSS shows a spinner). Plain (non-htmx) form submits do the same and ignore a
 *   second submit for a few seconds; opt out with [data-no-busy] on the form (e.g. file downloads).
 *
 * Batch selection
 *   [data-select-scope]                  a table/form/section; give it an id when controls live outside.
 *   input[type=checkbox][data-select-row]  row checkboxes (their <tr> gets .is-selected); shift-click
 *                                        selects a range.
 *   [data-select-page]                   header checkbox: all rows on this page; checked/indeterminate.
 *   [data-select-all-matching][data-total=N]  "select all N matching the filter": checks the page,
 *                                        enables a hidden input name=all_matching value=1 (found in the
 *                                        scope, in the checkbox's form, or created next to the checkbox;
 *                                        disabled — i.e. not submitted — when unchecked). Unticking any
 *                                        row or the page box unticks it.
 *   [data-select-count]                  text = number selected (N when all matching). Inside the scope,
 *                                        or anywhere with data-select-count-for="<scope id>".
 *   [data-requires-selection]            disabled while nothing is selected (buttons/inputs: `disabled`;
 *                                        other elements: aria-disabled="true"). Inside the scope, or value
 *                                        = scope id, or anywhere when the page has a single scope.
 *   [data-select-when="any|none|page"]   shown (hidden attribute removed) only when something / nothing /
 *                                        the whole page is selected — e.g. the "select all N" offer.
 *   Elements outside the scope may also name it with data-select-for="<scope id>".
 *   The scope gets .has-selection and data-selected="<count>", and fires `portal:selection`
 *   (detail {count, allMatching}). HX-Trigger `clearSelection` (detail {value: "<scope id>"} or none)
 *   unticks everything. State is recomputed after every htmx swap/settle and history restore.
 *   [data-keep-selection]                on an htmx element whose request replaces a scope (e.g. the
 *                                        order desk's 「点击刷新」): rows ticked before the request are
 *                                        ticked again after the swap when still listed (matched by
 *                                        their value); "all matching" is not carried over.
 *
 * Forms
 *   <form data-confirm-submit="确定…？">  window.confirm() before submit (works for htmx forms too);
 *                                        a submit button may carry its own data-confirm-submit.
 *   (htmx's own hx-confirm needs nothing from this file.)
 *   <form data-logout>                   clears any htmx history cache from localStorage on submit.
 *
 * Scan page
 *   [data-scan-input]                    focused on load, refocused after every htmx request and when
 *                                        focus falls to nothing; its text is selected after its form is
 *                                        submitted so the next scan replaces it. Escape clears it. Sounds: see "scan sounds".
 *
 * Misc
 *   <details id="…" data-remember>       stays open across page loads and desk swaps once opened
 *                                        (only the open flag is kept, in localStorage).
 *   [data-autohide] / [data-autohide="6000"]   removed after the given ms (default 5000).
 *   [data-copy="value"]                  click copies the value; the label (a .copy-label child, or the
 *                                        button text) reads 「已复制」 for 1.5 s.
 *   .drawer                              content swapped into it by htmx opens it (hidden removed, focus
 *                                        moved in); [data-drawer-close] or Escape closes and empties it.
 *   .tabs a.tab                          clicking moves .active/aria-current at once (the server's
 *                                        re-render stays authoritative).
 *                                        A scrolling strip shows its active tab (phones).
 *   [data-filters-toggle]                筛选 on a phone: folds its form's filters in/out (.is-open).
 *
 * Recommended htmx config in the base template (no eval under CSP, our CSS has the indicator styles,
 * no buyer data cached in localStorage):
 *   <meta name="htmx-config" content='{"allowEval":false,"includeIndicatorStyles":false,
 *         "historyCacheSize":0,"refreshOnHistoryMiss":true}'>
 */
(function () {
  'use strict';

  var doc = document;

  /* ------------------------------------------------------------------ helpers */

  var REMEMBER_PREFIX = 'portal:open:';

  function storedFlag(key) {
    try {
      return window.localStorage.getItem(key) === '1';
    } catch (err) {
      return false; // storage disabled: nothing is remembered
    }
  }

  function storeFlag(key, on) {
    try {
      if (on) window.localStorage.setItem(key, '1');
      else window.localStorage.removeItem(key);
    } catch (err) {
      /* storage disabled */
    }
  }

  function $all(root, selector) {
    var out = [];
    if (!root) return out;
    if (root.nodeType === 1 && root.matches(selector)) out.push(root);
    if (root.querySelectorAll) {
      var found = root.querySelectorAll(selector);
      for (var i = 0; i < found.length; i++) out.push(found[i]);
    }
    return out;
  }

  function unique(list) {
    var seen = [];
    for (var i = 0; i < list.length; i++) {
      if (seen.indexOf(list[i]) === -1) seen.push(list[i]);
    }
    return seen;
  }

  function cssEscape(value) {
    if (window.CSS && typeof window.CSS.escape === 'function') return window.CSS.escape(value);
    return String(value).replace(/["\\]/g, '\\$&');
  }

  function closest(el, selector) {
    if (!el) return null;
    if (el.nodeType !== 1) el = el.parentElement;
    return el ? el.closest(selector) : null;
  }

  var NON_TEXT_INPUTS = /^(button|submit|reset|checkbox|radio|image|file|range|color|hidden)$/i;

  /* A control the user types or chooses in (where stealing focus would lose their work). */
  function isTypingControl(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === 'SELECT' || el.tagName === 'TEXTAREA') return true;
    return el.tagName === 'INPUT' && !NON_TEXT_INPUTS.test(el.type);
  }

  function header(xhr, name) {
    try {
      return xhr && xhr.getResponseHeader ? xhr.getResponseHeader(name) : null;
    } catch (e) {
      return null;
    }
  }

  /* ------------------------------------------------------------------ toasts */

  var LEVELS = ['success', 'error', 'info', 'warning'];
  var TOAST_MS = { success: 4000, info: 4000, warning: 4000, error: 8000 };
  var MAX_TOASTS = 5;
  var LEAVE_MS = 180;

  function normLevel(level) {
    var l = String(level || 'info').toLowerCase();
    if (l === 'danger' || l === 'err') l = 'error';
    if (l === 'warn') l = 'warning';
    if (l === 'ok' || l === 'message') l = 'success';
    return LEVELS.indexOf(l) === -1 ? 'info' : l;
  }

  function toastContainer() {
    var box = doc.getElementById('toasts');
    if (!box) {
      box = doc.createElement('div');
      box.id = 'toasts';
      (doc.body || doc.documentElement).appendChild(box);
    }
    box.classList.add('toasts');
    if (!box.hasAttribute('aria-live')) box.setAttribute('aria-live', 'polite');
    if (!box.hasAttribute('aria-relevant')) box.setAttribute('aria-relevant', 'additions');
    return box;
  }

  function removeSoon(el) {
    if (!el || el.classList.contains('is-leaving')) return;
    el.classList.add('is-leaving');
    window.setTimeout(function () {
      if (el.parentNode) el.parentNode.removeChild(el);
    }, LEAVE_MS);
  }

  function dismissToast(toast) {
    if (toast && toast._portalTimer) toast._portalTimer.stop();
    removeSoon(toast);
  }

  /* A timer that pauses while the pointer is over the toast or focus is inside it. */
  function armToast(toast, ms) {
    var remaining = ms;
    var startedAt = 0;
    var handle = null;
    var hover = false;
    var focus = false;

    function start() {
      if (handle !== null || hover || focus || remaining <= 0) return;
      startedAt = Date.now();
      handle = window.setTimeout(function () {
        handle = null;
        removeSoon(toast);
      }, remaining);
    }
    function pause() {
      if (handle === null) return;
      window.clearTimeout(handle);
      handle = null;
      remaining = Math.max(1000, remaining - (Date.now() - startedAt));
    }
    toast.addEventListener('mouseenter', function () { hover = true; pause(); });
    toast.addEventListener('mouseleave', function () { hover = false; start(); });
    toast.addEventListener('focusin', function () { focus = true; pause(); });
    toast.addEventListener('focusout', function (e) {
      if (e.relatedTarget && toast.contains(e.relatedTarget)) return;
      focus = false;
      start();
    });
    toast._portalTimer = {
      stop: function () {
        if (handle !== null) window.clearTimeout(handle);
        handle = null;
        remaining = 0;
      }
    };
    start();
  }

  function levelOf(toast) {
    var fromData = toast.getAttribute('data-level');
    if (fromData) return normLevel(fromData);
    for (var i = 0; i < LEVELS.length; i++) {
      if (toast.classList.contains('toast-' + LEVELS[i])) return LEVELS[i];
    }
    if (toast.classList.contains('toast-danger')) return 'error';
    return 'info';
  }

  function addCloseButton(toast) {
    if (toast.querySelector('.toast-close')) return;
    var btn = doc.createElement('button');
    btn.type = 'button';
    btn.className = 'toast-close';
    btn.setAttribute('aria-label', '关闭');
    btn.title = '关闭';
    btn.textContent = '×';
    toast.appendChild(btn);
  }

  /* Turn a (server-rendered or freshly built) .toast into a live one. Idempotent. */
  function prepareToast(toast) {
    if (toast.hasAttribute('data-toast-ready')) return;
    toast.setAttribute('data-toast-ready', '');
    var level = levelOf(toast);
    toast.classList.add('toast', 'toast-' + level);
    if (!toast.hasAttribute('role')) toast.setAttribute('role', level === 'error' ? 'alert' : 'status');
    addCloseButton(toast);
    if (!toast.hasAttribute('data-sticky')) {
      var custom = parseInt(toast.getAttribute('data-timeout') || '', 10);
      armToast(toast, custom > 0 ? custom : TOAST_MS[level]);
    }
    trimToasts(toast.parentNode);
  }

  function trimToasts(box) {
    if (!box || box.id !== 'toasts') return;
    var live = [];
    for (var i = 0; i < box.children.length; i++) {
      var c = box.children[i];
      if (c.classList.contains('toast') && !c.classList.contains('is-leaving')) live.push(c);
    }
    for (var j = 0; j < live.length - MAX_TOASTS; j++) dismissToast(live[j]);
  }

  function showToast(message, level, options) {
    if (message === null || message === undefined) return null;
    var text = String(message).trim();
    if (!text) return null;
    var lvl = normLevel(level);
    var box = toastContainer();
    var opts = options || {};

    // A keyed toast replaces the live one with the same key (a progress toast, then its end).
    if (opts.key) {
      var keyed = box.querySelectorAll('.toast:not(.is-leaving)');
      for (var k = 0; k < keyed.length; k++) {
        if (keyed[k].getAttribute('data-key') === String(opts.key)) dismissToast(keyed[k]);
      }
    }

    // The same message twice in a row (double click, retry): replace rather than stack.
    var existing = box.querySelectorAll('.toast:not(.is-leaving)');
    for (var i = 0; i < existing.length; i++) {
      var msgEl = existing[i].querySelector('.toast-message');
      if (msgEl && msgEl.textContent === text && levelOf(existing[i]) === lvl) {
        dismissToast(existing[i]);
      }
    }

    var toast = doc.createElement('div');
    toast.className = 'toast toast-' + lvl;
    toast.setAttribute('data-level', lvl);
    if (opts.key) toast.setAttribute('data-key', String(opts.key));
    if (opts.sticky) toast.setAttribute('data-sticky', '');
    var msg = doc.createElement('div');
    msg.className = 'toast-message';
    msg.textContent = text; // never innerHTML: messages may echo user input
    toast.appendChild(msg);
    box.appendChild(toast);
    prepareToast(toast);
    return toast;
  }

  function toastsFromDetail(detail) {
    if (detail === null || detail === undefined) return;
    if (typeof detail === 'string') {
      showToast(detail, 'info');
      return;
    }
    if (Array.isArray(detail)) {
      for (var i = 0; i < detail.length; i++) toastsFromDetail(detail[i]);
      return;
    }
    if (typeof detail === 'object') {
      if (detail.message !== undefined) {
        showToast(detail.message, detail.level, { key: detail.key, sticky: detail.sticky });
      } else if (detail.value !== undefined) {
        // HX-Trigger {"showToast": "text"} or {"showToast": [...]} arrives as {value: …}
        toastsFromDetail(detail.value);
      }
    }
  }

  doc.addEventListener('showToast', function (e) {
    toastsFromDetail(e.detail);
  });

  doc.addEventListener('click', function (e) {
    var btn = closest(e.target, '.toast-close');
    if (btn) dismissToast(btn.closest('.toast'));
  });

  /* ------------------------------------------------------------------ htmx errors */

  var MSG_GENERIC = '操作失败，请稍后重试';
  var MSG_NETWORK = '网络连接失败，请检查网络';
  var MSG_TIMEOUT = '请求超时，请稍后重试';
  var STATUS_MESSAGES = {
    401: '登录已失效，请重新登录',
    403: '没有权限执行此操作',
    404: '内容不存在或已被删除',
    429: '操作过于频繁，请稍后再试'
  };
  var MAX_TEXT = 300;

  function plainMessage(xhr) {
    if (!xhr) return null;
    var type = (header(xhr, 'Content-Type') || '').toLowerCase();
    var body;
    try {
      body = typeof xhr.responseText === 'string' ? xhr.responseText.trim() : '';
    } catch (e) {
      body = '';
    }
    if (!body || body.length > 4000) return null;
    if (type.indexOf('text/plain') === 0) {
      if (body.length <= MAX_TEXT && body.charAt(0) !== '<') return body;
      return null;
    }
    if (type.indexOf('json') !== -1) {
      try {
        var data = JSON.parse(body);
        var m = data && ((data.error && data.error.message) || data.message);
        if (typeof m === 'string' && m.trim() && m.length <= MAX_TEXT) return m.trim();
      } catch (e2) {
        return null;
      }
    }
    return null;
  }

  function responseHasToast(xhr) {
    var names = ['HX-Trigger', 'HX-Trigger-After-Swap', 'HX-Trigger-After-Settle'];
    for (var i = 0; i < names.length; i++) {
      var v = header(xhr, names[i]);
      if (v && v.indexOf('showToast') !== -1) return true;
    }
    return false;
  }

  function swapErrorStatuses(elt) {
    var holder = closest(elt, '[data-swap-errors]');
    if (!holder) return null;
    var raw = (holder.getAttribute('data-swap-errors') || '').trim();
    if (!raw) return [422];
    return raw.split(/[\s,]+/).map(function (s) { return parseInt(s, 10); })
      .filter(function (n) { return n >= 400; });
  }

  doc.addEventListener('htmx:beforeSwap', function (e) {
    var d = e.detail || {};
    var status = d.xhr ? d.xhr.status : 0;
    if (status < 400) return;
    var allowed = swapErrorStatuses(d.requestConfig && d.requestConfig.elt ? d.requestConfig.elt : d.elt);
    if (allowed && allowed.indexOf(status) !== -1) {
      d.shouldSwap = true;
      d.isError = false;
    } else {
      d.shouldSwap = false;
      d.isError = true;
    }
  });

  doc.addEventListener('htmx:responseError', function (e) {
    var xhr = e.detail && e.detail.xhr;
    if (!xhr) return;
    if (header(xhr, 'HX-Redirect') || header(xhr, 'HX-Refresh') === 'true' || header(xhr, 'HX-Location')) return;
    if (responseHasToast(xhr)) return;
    if (xhr.status === 0) {
      showToast(MSG_NETWORK, 'error');
      return;
    }
    showToast(plainMessage(xhr) || STATUS_MESSAGES[xhr.status] || MSG_GENERIC, 'error');
  });

  doc.addEventListener('htmx:sendError', function () {
    showToast(MSG_NETWORK, 'error');
  });

  doc.addEventListener('htmx:timeout', function () {
    showToast(MSG_TIMEOUT, 'error');
  });

  /* ------------------------------------------------------------------ busy state */

  function busyTargets(elt, triggeringEvent) {
    if (!elt || elt.nodeType !== 1) return [];
    if (elt.tagName === 'BUTTON' || (elt.tagName === 'INPUT' && /^(submit|button)$/i.test(elt.type))) {
      return [elt];
    }
    if (elt.tagName === 'FORM') {
      var submitter = triggeringEvent && triggeringEvent.submitter;
      if (submitter) return [submitter];
      if (triggeringEvent && triggeringEvent.type === 'submit') {
        var first = elt.querySelector('button[type=submit], button:not([type]), input[type=submit]');
        return first ? [first] : [];
      }
    }
    return [];
  }

  function setBusy(list, on) {
    for (var i = 0; i < list.length; i++) {
      if (on) list[i].setAttribute('aria-busy', 'true');
      else list[i].removeAttribute('aria-busy');
    }
  }

  doc.addEventListener('htmx:beforeRequest', function (e) {
    var d = e.detail || {};
    var trig = d.requestConfig && d.requestConfig.triggeringEvent;
    var targets = busyTargets(d.elt, trig);
    if (d.elt) d.elt._portalBusy = targets;
    setBusy(targets, true);
  });

  doc.addEventListener('htmx:afterRequest', function (e) {
    var d = e.detail || {};
    if (d.elt && d.elt._portalBusy) {
      setBusy(d.elt._portalBusy, false);
      d.elt._portalBusy = null;
    }
  });

  /* ------------------------------------------------------------------ forms */

  // Capture phase: runs before htmx's own submit listener on the form, so a "cancel" stops both.
  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || form.tagName !== 'FORM') return;
    var submitter = e.submitter;
    var question = (submitter && submitter.getAttribute('data-confirm-submit')) ||
      form.getAttribute('data-confirm-submit');
    if (question && !window.confirm(question)) {
      e.preventDefault();
      e.stopPropagation();
      e.stopImmediatePropagation();
      return;
    }
    if (form.hasAttribute('data-logout')) {
      try {
        window.localStorage.removeItem('htmx-history-cache');
      } catch (err) { /* storage disabled */ }
      try {
        window.sessionStorage.clear();
      } catch (err2) { /* storage disabled */ }
    }
  }, true);

  // Bubble phase: if nobody (htmx) took the submit over, it is a plain navigation submit.
  var PLAIN_BUSY_MS = 6000;
  doc.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || form.tagName !== 'FORM') return;
    if (e.defaultPrevented || form.hasAttribute('data-no-busy') || form.target === '_blank') return;
    if (form._portalSubmitting) {
      e.preventDefault(); // a second click while the first submit is on its way
      return;
    }
    form._portalSubmitting = true;
    var targets = busyTargets(form, e);
    setBusy(targets, true);
    window.setTimeout(function () {
      form._portalSubmitting = false;
      setBusy(targets, false);
    }, PLAIN_BUSY_MS);
  });

  // Back/forward cache restores a page as it was left: clear busy markers.
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    var busy = doc.querySelectorAll('[aria-busy="true"]');
    for (var i = 0; i < busy.length; i++) busy[i].removeAttribute('aria-busy');
    var forms = doc.forms;
    for (var j = 0; j < forms.length; j++) forms[j]._portalSubmitting = false;
    scheduleSelectionRefresh();
  });

  /* ------------------------------------------------------------------ batch selection */

  var SCOPE = '[data-select-scope]';
  var ROW = 'input[type=checkbox][data-select-row]';
  var PAGE = '[data-select-page]';
  var ALL_MATCHING = '[data-select-all-matching]';
  var lastClicked = new WeakMap();

  function allScopes() {
    return Array.prototype.slice.call(doc.querySelectorAll(SCOPE));
  }

  /* The scope an element belongs to: data-select-for, ancestor scope, or the page's only scope. */
  function scopeOf(el) {
    var id = el.getAttribute('data-select-for') || el.getAttribute('data-select-count-for');
    if (!id && el.hasAttribute('data-requires-selection')) id = el.getAttribute('data-requires-selection');
    if (id) {
      var named = doc.getElementById(id);
      if (named) return named;
    }
    var own = el.closest(SCOPE);
    if (own) return own;
    var scopes = allScopes();
    return scopes.length === 1 ? scopes[0] : null;
  }

  /* Elements matching selector that belong to scope (inside it, or naming it, or page-wide). */
  function related(scope, selector) {
    var candidates = unique($all(scope, selector).concat(
      Array.prototype.slice.call(doc.querySelectorAll(selector))));
    return candidates.filter(function (el) { return scopeOf(el) === scope; });
  }

  function rowsOf(scope) {
    return $all(scope, ROW).filter(function (r) {
      return r.closest(SCOPE) === scope && !r.disabled;
    });
  }

  function allMatchingBoxes(scope) {
    return related(scope, ALL_MATCHING);
  }

  function hiddenAllMatchingInput(scope, box) {
    var sel = 'input[type=hidden][name=all_matching]';
    if (box && box._portalHidden && box._portalHidden.isConnected) return [box._portalHidden];
    var found = $all(scope, sel);
    if (!found.length && scope.id) {
      found = Array.prototype.slice.call(
        doc.querySelectorAll(sel + '[data-select-for="' + cssEscape(scope.id) + '"]'));
    }
    if (!found.length && box && box.form) {
      found = Array.prototype.slice.call(box.form.querySelectorAll(sel));
    }
    if (!found.length && box) {
      var input = doc.createElement('input');
      input.type = 'hidden';
      input.name = 'all_matching';
      input.value = '1';
      input.disabled = true;
      if (box.getAttribute('form')) input.setAttribute('form', box.getAttribute('form'));
      box.insertAdjacentElement('afterend', input);
      box._portalHidden = input;
      found = [input];
    }
    return found;
  }

  function refreshScope(scope) {
    var rows = rowsOf(scope);
    var matchBoxes = allMatchingBoxes(scope);
    var allMatching = null;
    for (var m = 0; m < matchBoxes.length; m++) {
      if (matchBoxes[m].checked) allMatching = matchBoxes[m];
    }
    // "All matching" covers every row, including rows swapped in later (next page).
    if (allMatching) {
      for (var a = 0; a < rows.length; a++) rows[a].checked = true;
    }
    var checked = 0;
    for (var i = 0; i < rows.length; i++) {
      var tr = rows[i].closest('tr');
      if (tr) tr.classList.toggle('is-selected', rows[i].checked);
      if (rows[i].checked) checked++;
    }
    var disabledRows = $all(scope, ROW).filter(function (r) { return r.disabled; });
    for (var k = 0; k < disabledRows.length; k++) {
      var dtr = disabledRows[k].closest('tr');
      if (dtr) dtr.classList.remove('is-selected');
    }

    var wholePage = rows.length > 0 && checked === rows.length;
    var pageBoxes = related(scope, PAGE);
    for (var p = 0; p < pageBoxes.length; p++) {
      pageBoxes[p].checked = wholePage;
      pageBoxes[p].indeterminate = checked > 0 && !wholePage;
      pageBoxes[p].disabled = rows.length === 0;
    }

    var hidden = matchBoxes.length ? hiddenAllMatchingInput(scope, matchBoxes[0]) : [];
    for (var h = 0; h < hidden.length; h++) {
      hidden[h].value = '1';
      hidden[h].disabled = !allMatching;
    }

    var count = checked;
    var shown = String(checked);
    if (allMatching) {
      // data-total is a number, or a capped one such as "10000+" shown as it is
      var label = allMatching.getAttribute('data-total') || '';
      var total = parseInt(label, 10);
      if (!isNaN(total)) {
        count = total;
        shown = label;
      }
    }

    var counters = related(scope, '[data-select-count]')
      .concat(scope.id ? Array.prototype.slice.call(
        doc.querySelectorAll('[data-select-count-for="' + cssEscape(scope.id) + '"]')) : []);
    counters = unique(counters);
    for (var c = 0; c < counters.length; c++) counters[c].textContent = shown;

    var needers = related(scope, '[data-requires-selection]');
    for (var n = 0; n < needers.length; n++) {
      var el = needers[n];
      if ('disabled' in el && /^(BUTTON|INPUT|SELECT|FIELDSET)$/.test(el.tagName)) {
        el.disabled = count === 0;
      } else if (count === 0) {
        el.setAttribute('aria-disabled', 'true');
      } else {
        el.removeAttribute('aria-disabled');
      }
    }

    var conditional = related(scope, '[data-select-when]');
    for (var w = 0; w < conditional.length; w++) {
      var when = conditional[w].getAttribute('data-select-when');
      var show = when === 'none' ? count === 0
        : when === 'page' ? (wholePage || !!allMatching)
        : count > 0;
      conditional[w].hidden = !show;
    }

    scope.classList.toggle('has-selection', count > 0);
    scope.setAttribute('data-selected', String(count));
    scope.dispatchEvent(new CustomEvent('portal:selection', {
      bubbles: true,
      detail: { count: count, allMatching: !!allMatching }
    }));
  }

  function refreshAllScopes() {
    var scopes = allScopes();
    for (var i = 0; i < scopes.length; i++) refreshScope(scopes[i]);
  }

  var refreshQueued = false;
  function scheduleSelectionRefresh() {
    if (refreshQueued) return;
    refreshQueued = true;
    var run = function () {
      refreshQueued = false;
      refreshAllScopes();
    };
    if (window.requestAnimationFrame) window.requestAnimationFrame(run);
    else window.setTimeout(run, 0);
  }

  function untickAllMatching(scope) {
    var boxes = allMatchingBoxes(scope);
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = false;
  }

  // Links (or other non-form elements) marked data-requires-selection are inert while disabled.
  doc.addEventListener('click', function (e) {
    var inert = closest(e.target, '[data-requires-selection][aria-disabled="true"]');
    if (inert) {
      e.preventDefault();
      e.stopPropagation();
    }
  }, true);

  doc.addEventListener('click', function (e) {
    var row = closest(e.target, ROW);
    if (!row) return;
    var scope = row.closest(SCOPE);
    if (!scope) return;
    var previous = lastClicked.get(scope);
    if (e.shiftKey && previous && previous !== row && scope.contains(previous)) {
      var rows = rowsOf(scope);
      var a = rows.indexOf(previous);
      var b = rows.indexOf(row);
      if (a !== -1 && b !== -1) {
        var from = Math.min(a, b);
        var to = Math.max(a, b);
        for (var i = from; i <= to; i++) rows[i].checked = row.checked;
        if (!row.checked) untickAllMatching(scope);
        refreshScope(scope);
      }
    }
    lastClicked.set(scope, row);
  });

  doc.addEventListener('change', function (e) {
    var el = e.target;
    if (!el || el.nodeType !== 1) return;
    var scope;
    if (el.matches(ROW)) {
      scope = el.closest(SCOPE);
      if (!scope) return;
      if (!el.checked) untickAllMatching(scope);
      refreshScope(scope);
    } else if (el.matches(PAGE)) {
      scope = scopeOf(el);
      if (!scope) return;
      var rows = rowsOf(scope);
      for (var i = 0; i < rows.length; i++) rows[i].checked = el.checked;
      if (!el.checked) untickAllMatching(scope);
      refreshScope(scope);
    } else if (el.matches(ALL_MATCHING)) {
      scope = scopeOf(el);
      if (!scope) return;
      if (el.checked) {
        var all = rowsOf(scope);
        for (var j = 0; j < all.length; j++) all[j].checked = true;
      }
      refreshScope(scope);
    }
  });

  doc.addEventListener('clearSelection', function (e) {
    var id = e.detail && typeof e.detail.value === 'string' ? e.detail.value : null;
    var scopes = id && doc.getElementById(id) ? [doc.getElementById(id)] : allScopes();
    for (var i = 0; i < scopes.length; i++) {
      var rows = $all(scopes[i], ROW);
      for (var r = 0; r < rows.length; r++) rows[r].checked = false;
      untickAllMatching(scopes[i]);
      refreshScope(scopes[i]);
    }
  });

  // A refresh the user asked for keeps what they ticked (the rows that are still there).
  var keptSelections = new WeakMap();

  doc.addEventListener('htmx:beforeRequest', function (e) {
    var d = e.detail || {};
    if (!d.xhr || !closest(d.elt, '[data-keep-selection]')) return;
    var kept = [];
    var scopes = $all(d.target, SCOPE);
    for (var i = 0; i < scopes.length; i++) {
      if (!scopes[i].id) continue;
      var values = rowsOf(scopes[i])
        .filter(function (r) { return r.checked; })
        .map(function (r) { return r.value; });
      if (values.length) kept.push({ id: scopes[i].id, values: values });
    }
    if (kept.length) keptSelections.set(d.xhr, kept);
  });

  doc.addEventListener('htmx:afterSwap', function (e) {
    var xhr = e.detail && e.detail.xhr;
    var kept = xhr && keptSelections.get(xhr);
    if (!kept) return;
    keptSelections.delete(xhr);
    for (var i = 0; i < kept.length; i++) {
      var scope = doc.getElementById(kept[i].id);
      if (!scope) continue;
      var rows = rowsOf(scope);
      for (var r = 0; r < rows.length; r++) {
        if (kept[i].values.indexOf(rows[r].value) !== -1) rows[r].checked = true;
      }
      refreshScope(scope);
    }
  });

  /* ------------------------------------------------------------------ scan page */

  var SCAN = '[data-scan-input]';

  function scanInput() {
    var el = doc.querySelector(SCAN);
    return el && !el.disabled && !el.readOnly ? el : null;
  }

  function focusScan(selectText) {
    var input = scanInput();
    if (!input) return;
    var active = doc.activeElement;
    // Don't steal focus from another control the user is working in (courier select, a dialog…).
    if (active && active !== input &&
        (isTypingControl(active) || closest(active, '.drawer, dialog, [role="dialog"]'))) {
      return;
    }
    try {
      input.focus({ preventScroll: true });
    } catch (e) {
      input.focus();
    }
    // Select (so the next scan replaces it) only text that was already there when the scan
    // form last sent: anything else is a scan typed since, maybe still being typed.
    if (selectText && (input._sentValue === undefined || input.value === input._sentValue)) {
      input.select();
    }
  }

  function fromScanForm(elt) {
    var input = scanInput();
    if (!input || !elt) return false;
    return elt === input || (input.form && (elt === input.form || input.form.contains(elt)));
  }

  doc.addEventListener('htmx:beforeRequest', function (e) {
    var input = scanInput();
    if (input && fromScanForm(e.detail && e.detail.elt)) input._sentValue = input.value;
  });

  doc.addEventListener('htmx:afterRequest', function (e) {
    if (!doc.querySelector(SCAN)) return;
    var mine = fromScanForm(e.detail && e.detail.elt);
    window.setTimeout(function () { focusScan(mine); }, 0);
  });

  doc.addEventListener('htmx:afterSettle', function (e) {
    if (!doc.querySelector(SCAN)) return;
    focusScan(fromScanForm(e.detail && e.detail.elt) || !!closest(e.target, SCAN) ||
      !!(e.target && e.target.querySelector && e.target.querySelector(SCAN)));
  });

  doc.addEventListener('focusout', function (e) {
    if (!closest(e.target, SCAN) || e.relatedTarget) return;
    // Focus fell to nothing (a click on blank space): give it back to the scanner input.
    window.setTimeout(function () {
      if (!doc.activeElement || doc.activeElement === doc.body) focusScan(false);
    }, 0);
  });

  doc.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && closest(e.target, SCAN)) {
      e.target.value = '';
      return;
    }
    if (e.key === 'Escape') closeOpenDrawer();
  });

  window.addEventListener('focus', function () { focusScan(false); });

  /* ------------------------------------------------------------------ autohide */

  function armAutohide(el) {
    if (el.hasAttribute('data-autohide-armed')) return;
    el.setAttribute('data-autohide-armed', '');
    var ms = parseInt(el.getAttribute('data-autohide') || '', 10);
    window.setTimeout(function () { removeSoon(el); }, ms > 0 ? ms : 5000);
  }

  /* ------------------------------------------------------------------ copy */

  function legacyCopy(text, returnFocusTo) {
    var area = doc.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'copy-buffer';
    doc.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = doc.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    doc.body.removeChild(area);
    if (returnFocusTo) returnFocusTo.focus();
    return ok;
  }

  function copyText(text, btn) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; },
        function () { return legacyCopy(text, btn); });
    }
    return Promise.resolve(legacyCopy(text, btn));
  }

  function flashCopied(btn) {
    var label = btn.querySelector('.copy-label') || btn;
    if (btn._portalCopyTimer) {
      window.clearTimeout(btn._portalCopyTimer);
    } else {
      btn._portalCopyLabel = label.textContent;
    }
    label.textContent = '已复制';
    btn.classList.add('is-copied');
    btn._portalCopyTimer = window.setTimeout(function () {
      label.textContent = btn._portalCopyLabel;
      btn.classList.remove('is-copied');
      btn._portalCopyTimer = null;
    }, 1500);
  }

  doc.addEventListener('click', function (e) {
    var btn = closest(e.target, '[data-copy]');
    if (!btn) return;
    e.preventDefault();
    var text = btn.getAttribute('data-copy') || '';
    if (!text) return;
    copyText(text, btn).then(function (ok) {
      if (ok) flashCopied(btn);
      else showToast('复制失败，请手动选择复制', 'error');
    });
  });

  /* ------------------------------------------------------------------ drawer */

  var drawerOpener = null;

  function openDrawer(drawer) {
    if (!drawer.hidden && drawer.classList.contains('is-open')) return;
    drawerOpener = doc.activeElement;
    drawer.hidden = false;
    drawer.classList.add('is-open');
    if (!drawer.hasAttribute('tabindex')) drawer.setAttribute('tabindex', '-1');
    try {
      drawer.focus({ preventScroll: true });
    } catch (e) {
      drawer.focus();
    }
  }

  function closeDrawer(drawer) {
    drawer.classList.remove('is-open');
    drawer.hidden = true;
    while (drawer.firstChild) drawer.removeChild(drawer.firstChild);
    if (drawerOpener && doc.contains(drawerOpener)) drawerOpener.focus();
    drawerOpener = null;
  }

  function closeOpenDrawer() {
    var open = doc.querySelector('.drawer.is-open');
    if (open) closeDrawer(open);
  }

  doc.addEventListener('click', function (e) {
    var closer = closest(e.target, '[data-drawer-close]');
    if (!closer) return;
    var drawer = closer.closest('.drawer') || doc.querySelector('.drawer.is-open');
    if (drawer) {
      e.preventDefault();
      closeDrawer(drawer);
    }
  });

  doc.addEventListener('htmx:afterSwap', function (e) {
    var target = e.detail && e.detail.target;
    var drawer = closest(target, '.drawer');
    if (drawer && drawer.children.length) openDrawer(drawer);
  });

  /* ------------------------------------------------------------------ tabs */

  doc.addEventListener('click', function (e) {
    var tab = closest(e.target, '.tabs a.tab');
    if (!tab || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    var tabs = tab.closest('.tabs').querySelectorAll('a.tab');
    for (var i = 0; i < tabs.length; i++) {
      tabs[i].classList.toggle('active', tabs[i] === tab);
      if (tabs[i] === tab) tabs[i].setAttribute('aria-current', 'page');
      else tabs[i].removeAttribute('aria-current');
    }
  });

  /* 筛选 (phones): [data-filters-toggle] folds its form's filters in and out (.is-open). */
  doc.addEventListener('click', function (e) {
    var toggle = closest(e.target, '[data-filters-toggle]');
    if (!toggle) return;
    var form = toggle.closest('form');
    if (!form) return;
    var open = !form.classList.contains('is-open');
    form.classList.toggle('is-open', open);
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });

  /* The active tab of a scrolling tab strip is brought into view (phones). */
  function showActiveTab(root) {
    var active = $all(root, '.tabs a.tab[aria-current="page"]');
    for (var i = 0; i < active.length; i++) {
      var strip = active[i].closest('.tabs');
      if (strip && strip.scrollWidth > strip.clientWidth) {
        strip.scrollLeft = Math.max(0, active[i].offsetLeft - strip.offsetLeft - 24);
      }
    }
  }

  /* ------------------------------------------------------------------ init */

  function init(root) {
    var box = doc.getElementById('toasts');
    if (box) {
      toastContainer();
      var flashes = box.querySelectorAll('.toast:not([data-toast-ready])');
      for (var i = 0; i < flashes.length; i++) prepareToast(flashes[i]);
    }
    var drawers = $all(root, '.drawer');
    for (var d = 0; d < drawers.length; d++) {
      if (!drawers[d].hidden && drawers[d].children.length) drawers[d].classList.add('is-open');
    }
    var remembered = $all(root, 'details[data-remember][id]');
    for (var r = 0; r < remembered.length; r++) {
      if (storedFlag(REMEMBER_PREFIX + remembered[r].id)) remembered[r].open = true;
    }
    var hide = $all(root, '[data-autohide]');
    for (var j = 0; j < hide.length; j++) armAutohide(hide[j]);
    showActiveTab(root);
    scheduleSelectionRefresh();
  }

  // toggle does not bubble: listen in the capture phase
  doc.addEventListener('toggle', function (e) {
    var details = e.target;
    if (details.nodeType === 1 && details.matches('details[data-remember][id]')) {
      storeFlag(REMEMBER_PREFIX + details.id, details.open);
    }
  }, true);

  doc.addEventListener('htmx:load', function (e) {
    init(e.target && e.target.nodeType === 1 ? e.target : doc.body);
  });
  doc.addEventListener('htmx:afterSwap', refreshAllScopes);
  doc.addEventListener('htmx:afterSettle', refreshAllScopes);
  doc.addEventListener('htmx:historyRestore', function () {
    init(doc.body);
    focusScan(false);
  });

  function ready() {
    init(doc.body);
    refreshAllScopes();
    focusScan(true);
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', ready);
  else ready();

  window.Portal = {
    toast: showToast,
    refreshSelection: function (scope) {
      if (scope) refreshScope(scope);
      else refreshAllScopes();
    }
  };
})();

/* ==================================================================== scan & return (回传运单号)
 * Supplier scan page (templates/supplier/scan.html). Contract:
 *   form[data-scan-form][data-scan-return-url]   the scanner form. While its
 *                        input[name=order_no] holds an order (set by the server in #scan-context),
 *                        the next scan is sent to data-scan-return-url instead of hx-post.
 *   The [data-scan-input] is emptied as soon as its code is sent, so a scan typed while the
 *   answer is on its way starts clean (hx-sync queues it) and is not selected away afterwards;
 *   on a network or server error the unsent code is put back for another Enter.
 *   [data-scan-reset]    inside the form: forget the waiting order (the next scan is looked up).
 *   Choosing in a <select> of the form (the courier) moves focus back to the scanner input.
 *   ol[data-scan-log][data-max=N]   session log; entries beyond N (default 50) are dropped.
 *   [data-scan-count]    the returns of this page session: +1 per #scan-result[data-scan-kind=returned],
 *                        -1 per undone (each panel counted once).
 *   form[data-scan-undo] in the panel after a return: Ctrl+Z / ⌘Z submits it (the undo).
 */
(function () {
  'use strict';

  var doc = document;

  function scanForm(elt) {
    return elt && elt.nodeType === 1 ? elt.closest('form[data-scan-form]') : null;
  }

  function pendingInput(form) {
    return form.querySelector('input[name="order_no"]');
  }

  doc.addEventListener('htmx:configRequest', function (e) {
    var form = scanForm(e.detail && e.detail.elt);
    if (!form) return;
    var pending = pendingInput(form);
    var returnUrl = form.getAttribute('data-scan-return-url');
    if (pending && pending.value && returnUrl) e.detail.path = returnUrl;
    // The parameters are already collected: emptying the input does not change this request.
    var input = form.querySelector('[data-scan-input]');
    if (!input) return;
    form._scanSent = input.value;
    input.value = '';
  });

  doc.addEventListener('htmx:afterRequest', function (e) {
    var form = scanForm(e.detail && e.detail.elt);
    var input = form ? form.querySelector('[data-scan-input]') : null;
    if (!input) return;
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    if ((status === 0 || status >= 500) && !input.value && form._scanSent) {
      input.value = form._scanSent;
      return;
    }
    // portal.js selects the input's text after a scan; here that text is a scan typed since
    // (maybe still being typed), which must not be replaced: put the caret at its end.
    window.setTimeout(function () {
      if (input.value && doc.activeElement === input) {
        input.setSelectionRange(input.value.length, input.value.length);
      }
    }, 0);
  });

  doc.addEventListener('click', function (e) {
    var btn = e.target && e.target.nodeType === 1 ? e.target.closest('[data-scan-reset]') : null;
    var form = scanForm(btn);
    if (!form) return;
    e.preventDefault();
    var pending = pendingInput(form);
    if (pending) pending.value = '';
    var note = btn.closest('[data-scan-pending]');
    if (note) note.hidden = true;
    var input = form.querySelector('[data-scan-input]');
    if (input) input.focus();
  });

  // Back to the scanner input once a courier is chosen: scanner keystrokes landing on a
  // focused <select> would pick another courier by type-ahead.
  doc.addEventListener('change', function (e) {
    var el = e.target;
    if (!el || el.tagName !== 'SELECT') return;
    var form = scanForm(el);
    var input = form ? form.querySelector('[data-scan-input]') : null;
    if (input) input.focus();
  });

  // The running count: each answer panel is counted once, a return +1, an undo -1.
  doc.addEventListener('htmx:afterSettle', function () {
    var result = doc.getElementById('scan-result');
    var counter = doc.querySelector('[data-scan-count]');
    if (!result || !counter || result._scanCounted) return;
    result._scanCounted = true;
    var kind = result.getAttribute('data-scan-kind');
    var count = parseInt(counter.textContent, 10) || 0;
    if (kind === 'returned') count += 1;
    if (kind === 'undone') count = Math.max(0, count - 1);
    counter.textContent = String(count);
  });

  // Ctrl+Z (⌘Z) on the scan page: undo the last return (the panel's [data-scan-undo] form).
  doc.addEventListener('keydown', function (e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey || (e.key || '').toLowerCase() !== 'z') return;
    var undo = doc.querySelector('form[data-scan-undo]');
    if (!undo || !window.htmx) return;
    e.preventDefault();
    window.htmx.trigger(undo, 'submit');
  });

  doc.addEventListener('htmx:afterSettle', function () {
    var logs = doc.querySelectorAll('[data-scan-log]');
    for (var i = 0; i < logs.length; i++) {
      var max = parseInt(logs[i].getAttribute('data-max') || '', 10) || 50;
      while (logs[i].children.length > max) logs[i].removeChild(logs[i].lastElementChild);
    }
  });
})();

/* ==================================================================== settlement prices (结算价)
 * The supplier's price list (templates/supplier/_prices_row.html):
 *   details.price-edit > summary   a click that opens it puts the caret in its [data-price-input]
 *                                  (text selected, so typing replaces the price); Escape in the
 *                                  input closes it again.
 *   form[data-price-form]          after a row is saved with Enter (or 保存) without a refusal,
 *                                  the next row's price editor opens and its input takes the
 *                                  focus: a column of prices is typed one after another, the
 *                                  keyboard never leaves the list. After the last row the focus
 *                                  stays on the saved row's 修改.
 */
(function () {
  'use strict';

  var doc = document;
  var pending = null; // {row, next}: ids around the row whose save is in flight

  function focusInput(root) {
    var input = root ? root.querySelector('[data-price-input]') : null;
    if (!input) return;
    input.focus();
    input.select();
  }

  doc.addEventListener('click', function (e) {
    var summary = e.target && e.target.nodeType === 1 ? e.target.closest('details.price-edit > summary') : null;
    if (!summary) return;
    var details = summary.parentNode;
    if (details.open) return; // this click closes it
    window.setTimeout(function () {
      if (details.open) focusInput(details);
    }, 0);
  });

  doc.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    var input = e.target && e.target.nodeType === 1 ? e.target.closest('[data-price-input]') : null;
    var details = input ? input.closest('details.price-edit') : null;
    if (!details) return;
    details.open = false;
    var summary = details.querySelector('summary');
    if (summary) summary.focus();
  });

  doc.addEventListener('htmx:beforeRequest', function (e) {
    var form = e.detail && e.detail.elt;
    if (!form || form.nodeType !== 1 || !form.matches('form[data-price-form]')) return;
    var row = form.closest('tr');
    var next = row ? row.nextElementSibling : null;
    pending = row && row.id ? { row: row.id, next: next && next.id ? next.id : '' } : null;
  });

  doc.addEventListener('htmx:afterSettle', function (e) {
    var row = e.target;
    if (!pending || !row || row.id !== pending.row) return;
    var nextId = pending.next;
    pending = null;
    if (row.querySelector('[aria-invalid="true"]')) return; // refused: stay on this row
    var next = nextId ? doc.getElementById(nextId) : null;
    var details = next ? next.querySelector('details.price-edit') : null;
    if (details) {
      details.open = true;
      focusInput(details);
      return;
    }
    var summary = row.querySelector('details.price-edit > summary');
    if (summary) summary.focus();
  });
})();

/* ==================================================================== labels (打印面单)
 * a[data-open-now]   a link swapped in by htmx (the PDF of the print job just made) opens in a
 *                    new tab at once; the link itself is scrolled to the middle of the screen and
 *                    focused, so it is where the eye is (and one Enter away when a popup blocker
 *                    refused the tab). The attribute is removed: a history restore opens nothing.
 */
(function () {
  'use strict';

  var doc = document;

  doc.addEventListener('htmx:afterSettle', function (e) {
    var root = e.target && e.target.nodeType === 1 ? e.target : doc;
    var link = root.matches && root.matches('a[data-open-now]') ? root : root.querySelector('a[data-open-now]');
    if (!link) return;
    link.removeAttribute('data-open-now');
    try {
      link.focus({ preventScroll: true });
    } catch (err) {
      link.focus();
    }
    if (link.scrollIntoView) link.scrollIntoView({ block: 'center' });
    // The click that asked for the print job is a few hundred ms old: still a user activation.
    window.open(link.href, '_blank', 'noopener');
  });
})();

/* ==================================================================== scan sounds
 * #scan-result[data-scan-signal]   swapped in after every scan: one short sound per signal, so a
 *                                  packer hears the answer without looking — ok: one high beep;
 *                                  already (returned before): two mid beeps; refused: a long low
 *                                  buzz. Web Audio only (no files); silent where it is missing.
 */
(function () {
  'use strict';

  var doc = document;
  var SOUNDS = {
    ok: [[1320, 0, 0.12, 'sine']],
    already: [[660, 0, 0.09, 'triangle'], [660, 0.16, 0.09, 'triangle']],
    refused: [[180, 0, 0.45, 'square']]
  };
  var context = null;

  function audio() {
    var Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    if (!context) context = new Ctor();
    if (context.state === 'suspended' && context.resume) context.resume();
    return context;
  }

  function play(signal) {
    var notes = SOUNDS[signal];
    var ctx = notes ? audio() : null;
    if (!ctx) return;
    var now = ctx.currentTime;
    notes.forEach(function (note) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = note[3];
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.15, now + note[1]);
      gain.gain.exponentialRampToValueAtTime(0.001, now + note[1] + note[2]);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(now + note[1]);
      osc.stop(now + note[1] + note[2] + 0.02);
    });
    doc.documentElement.setAttribute('data-last-scan-sound', signal); // for tests and debugging
  }

  doc.addEventListener('htmx:afterSettle', function (e) {
    var target = e.target;
    if (!target || target.id !== 'scan-result') return;
    var signal = target.getAttribute('data-scan-signal');
    if (signal) play(signal);
  });
})();

/* ==================================================================== kept file choice
 * input[type=file][data-keep-file][id]   when a refusal (4xx) re-renders its form, the new input
 *                                        gets the files the old one held: the merchant fixes
 *                                        nothing and need not choose the file again.
 */
(function () {
  'use strict';

  var doc = document;
  var kept = {};

  doc.addEventListener('htmx:beforeSwap', function (e) {
    var d = e.detail || {};
    kept = {};
    if (!d.xhr || d.xhr.status < 400 || !d.shouldSwap || !d.target) return;
    var inputs = d.target.querySelectorAll('input[type=file][data-keep-file][id]');
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files.length) kept[inputs[i].id] = inputs[i].files;
    }
  });

  doc.addEventListener('htmx:afterSwap', function () {
    Object.keys(kept).forEach(function (id) {
      var input = doc.getElementById(id);
      if (input && (!input.files || !input.files.length)) {
        try {
          input.files = kept[id];
        } catch (err) { /* an old browser: the file has to be chosen again */ }
      }
    });
    kept = {};
  });
})();

/* ==================================================================== downloads of a selection
 * button[data-post-download="<url>"][data-include="<selector>"]   posts, as a plain form (so the
 *   browser downloads or opens the file), the named enabled inputs the selector finds (the desk's
 *   state, its ticked rows, the print options) plus the button's own name=value and the CSRF
 *   token of <body hx-headers>. With [data-new-tab] the answer opens in a new tab (a PDF).
 */
(function () {
  'use strict';

  var doc = document;

  function csrfToken() {
    try {
      var headers = JSON.parse(doc.body.getAttribute('hx-headers') || '{}');
      return headers['X-CSRFToken'] || headers['X-CSRF-Token'] || '';
    } catch (err) {
      return '';
    }
  }

  function hidden(form, name, value) {
    var input = doc.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  doc.addEventListener('click', function (e) {
    var button = e.target.closest && e.target.closest('[data-post-download]');
    if (!button) return;
    e.preventDefault();
    var form = doc.createElement('form');
    form.method = 'post';
    form.action = button.getAttribute('data-post-download');
    if (button.hasAttribute('data-new-tab')) form.target = '_blank';
    form.setAttribute('data-no-busy', '');
    form.hidden = true;
    hidden(form, 'csrf_token', csrfToken());
    var found = doc.querySelectorAll(button.getAttribute('data-include') || '');
    for (var i = 0; i < found.length; i++) {
      var input = found[i];
      if (!input.name || input.disabled) continue;
      if ((input.type === 'checkbox' || input.type === 'radio') && !input.checked) continue;
      hidden(form, input.name, input.value);
    }
    if (button.name) hidden(form, button.name, button.value);
    doc.body.appendChild(form);
    form.submit();
    doc.body.removeChild(form);
  });
})();

/* ==================================================================== desk shortcuts
 * Where a dialog[data-shortcuts-help] is on the page (the factory desk), single keys act when
 * no text field or select has the focus (a ticked row's box may) and no modifier is held:
 *   A  clicks the list's [data-select-page] (select / unselect the page)
 *   P  clicks [data-shortcut="print"] (when enabled)
 *   N / B  follow the pagination's a[rel=next] / a[rel=prev]
 *   ?  opens (or closes) the help dialog; [data-shortcuts-open] opens it too.
 */
(function () {
  'use strict';

  var doc = document;

  // Boxes and buttons take no letters: a row ticked with the mouse keeps the focus on its box,
  // and A / P / N / B must still work from there.
  var NOT_TEXT = /^(checkbox|radio|button|submit|reset|image|file|range|color)$/;

  function typing(el) {
    if (!el || el === doc.body) return false;
    var tag = el.tagName;
    if (tag === 'INPUT') return !NOT_TEXT.test((el.type || '').toLowerCase());
    return tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
  }

  function toggleHelp(help) {
    if (help.open) help.close();
    else if (help.showModal) help.showModal();
    else help.setAttribute('open', '');
  }

  doc.addEventListener('click', function (e) {
    var opener = e.target.closest && e.target.closest('[data-shortcuts-open]');
    var help = doc.querySelector('dialog[data-shortcuts-help]');
    if (opener && help) toggleHelp(help);
  });

  doc.addEventListener('keydown', function (e) {
    var help = doc.querySelector('dialog[data-shortcuts-help]');
    if (!help || e.ctrlKey || e.metaKey || e.altKey || typing(doc.activeElement)) return;
    var key = e.key || '';
    var target = null;
    if (key === '?') {
      e.preventDefault();
      toggleHelp(help);
      return;
    }
    if (help.open) return;
    key = key.toLowerCase();
    if (key === 'a') target = doc.querySelector('[data-select-page]');
    else if (key === 'p') target = doc.querySelector('[data-shortcut="print"]');
    else if (key === 'n') target = doc.querySelector('.pagination a[rel="next"]');
    else if (key === 'b') target = doc.querySelector('.pagination a[rel="prev"]');
    if (!target || target.disabled) return;
    e.preventDefault();
    target.click();
  });
})();
