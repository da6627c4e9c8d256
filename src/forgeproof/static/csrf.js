/*! forgeproof CSRF helper. MIT licence. No dependencies.
 *
 * Adds the session's CSRF token to every same-origin request with an
 * unsafe method made through fetch(), XMLHttpRequest or htmx, and when the
 * server answers that the token is stale or missing, fetches a fresh one
 * and retries that request once.
 *
 *   <meta name="csrf-token" content="...">          (csrf_meta(request))
 *   <script src="/forgeproof/csrf.js" defer></script>
 *
 * or, as an ES module: import csrf from "/forgeproof/csrf.mjs".
 *
 * No inline script is needed, so it runs under a strict Content-Security-
 * Policy (script-src 'self'). Options, as data- attributes of the script tag
 * or through window.forgeproofCSRF.configure({...}):
 *   data-header     the request header (default X-CSRF-Token)
 *   data-token-url  the token endpoint (default: "token" beside this file)
 *
 * The token never goes to another origin: URLs are resolved the way the
 * browser resolves them and compared by origin (scheme, host and port).
 * Request bodies that are streams (a ReadableStream given to fetch()) cannot
 * be sent twice, so such requests get the token but are never retried.
 *
 * XXX: the browser keeps request headers across redirects, so an open
 * redirect on this origin to another one forwards the token there if that
 * origin approves the CORS preflight (pinned by tests/client/
 * test_client_browser.py::test_the_token_does_not_follow_an_open_redirect_
 * to_another_origin). The server's Origin check still refuses any request
 * that other origin makes with it.
 */
(() => {
  "use strict";

  if (typeof window === "undefined" || window.forgeproofCSRF) {
    return; // not in a page, or already installed (classic tag and module)
  }

  // RFC 9110 §9.2.1. Everything else needs the token, as on the server.
  const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
  // The rejections a fresh token can cure. Origin or cross-site rejections,
  // a conflict, a store outage or any other failure are never retried.
  const RETRY_REASONS = new Set(["token_missing", "token_invalid", "session_missing"]);
  const STATE = Symbol("forgeproof.csrf");
  const HANDLERS = Symbol("forgeproof.csrf.handlers");

  const script = document.currentScript;
  const settings = {
    header: (script && script.dataset.header) || "X-CSRF-Token",
    tokenUrl:
      (script && script.dataset.tokenUrl) ||
      (script && script.src ? new URL("token", script.src).href : null),
  };

  function isSameOrigin(url) {
    // Resolved against the document's base URL, as fetch() and XHR resolve
    // it: a page with an injected <base href="https://evil.example/"> sends
    // relative requests to that origin, and this check sees it. An opaque
    // origin (sandboxed frame, file:) is never "same".
    let target;
    try {
      target = new URL(url, document.baseURI);
    } catch (error) {
      return false;
    }
    return location.origin !== "null" && target.origin === location.origin;
  }

  function needsToken(method, url) {
    return !SAFE_METHODS.has(String(method || "GET").toUpperCase()) && isSameOrigin(url);
  }

  function metaTag() {
    return document.querySelector('meta[name="csrf-token"]');
  }

  function token() {
    const meta = metaTag();
    return (meta && meta.getAttribute("content")) || "";
  }

  // The meta tag stays the one place the token lives, so the page's own
  // code that reads it sees a refreshed token too.
  function remember(value) {
    let meta = metaTag();
    if (!meta) {
      meta = document.createElement("meta");
      meta.setAttribute("name", "csrf-token");
      (document.head || document.documentElement).appendChild(meta);
    }
    meta.setAttribute("content", value);
  }

  const nativeFetch = window.fetch;
  let refreshing = null;

  // One request to the token endpoint, shared by every request that needs
  // it at the same moment. Resolves to the new token, or "" on any failure.
  function refresh() {
    if (!refreshing) {
      refreshing = fetchToken().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function fetchToken() {
    const url = settings.tokenUrl || "/forgeproof/token";
    if (!nativeFetch || !isSameOrigin(url)) {
      return "";
    }
    try {
      const response = await nativeFetch.call(window, url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        return "";
      }
      const body = await response.json();
      if (!body || typeof body.token !== "string" || !body.token) {
        return "";
      }
      remember(body.token);
      return body.token;
    } catch (error) {
      return "";
    }
  }

  function isProblem(contentType) {
    return /^application\/problem\+json\s*(;|$)/i.test(contentType || "");
  }

  function isRetryable(problem) {
    return Boolean(problem) && RETRY_REASONS.has(problem.reason);
  }

  function sameName(left, right) {
    return String(left).toLowerCase() === String(right).toLowerCase();
  }

  // fetch() ------------------------------------------------------------------

  async function staleTokenResponse(response) {
    if (response.status !== 403 || !isProblem(response.headers.get("content-type"))) {
      return false;
    }
    try {
      return isRetryable(await response.clone().json());
    } catch (error) {
      return false;
    }
  }

  async function csrfFetch(input, init) {
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const method = (init && init.method) || (isRequest ? input.method : "GET");
    const url = isRequest ? input.url : String(input);
    if (!needsToken(method, url)) {
      return nativeFetch.call(window, input, init);
    }

    const headers = new Headers(
      init && init.headers !== undefined ? init.headers : isRequest ? input.headers : undefined,
    );
    const bodyInInit = Boolean(init) && init.body !== undefined && init.body !== null;
    const streamed =
      bodyInInit && typeof ReadableStream !== "undefined" && init.body instanceof ReadableStream;
    // A Request's own body is read by the first attempt: keep a copy for the
    // retry. Strings, Blobs, FormData and buffers in init can be sent again.
    let spare = null;
    if (isRequest && !bodyInInit && input.body !== null) {
      try {
        spare = input.clone();
      } catch (error) {
        spare = null;
      }
    }
    const replayable = !streamed && !(isRequest && !bodyInInit && input.body !== null && !spare);

    if (!headers.has(settings.header)) {
      // A page without the meta tag (an SPA) asks first, instead of
      // collecting a predictable rejection.
      const value = token() || (await refresh());
      if (value) {
        headers.set(settings.header, value);
      }
    }
    const response = await nativeFetch.call(window, input, { ...init, headers });
    if (!replayable || !(await staleTokenResponse(response))) {
      return response;
    }

    const fresh = await refresh();
    if (!fresh) {
      return response;
    }
    headers.set(settings.header, fresh);
    return nativeFetch.call(window, spare || input, { ...init, headers });
  }

  if (nativeFetch) {
    window.fetch = function fetch(input, init) {
      return csrfFetch(input, init);
    };
  }

  // XMLHttpRequest -------------------------------------------------------------
  //
  // An XHR cannot be sent twice behind its owner's back unless the owner
  // never sees the first answer. So the page's listeners (addEventListener
  // and the on... properties) are wrapped: while a 403 problem+json is
  // pending on an XHR this helper sent the token with, they are held back.
  // When its reason is a stale token the same object is opened and sent
  // again with the fresh token, and the page sees only the second answer;
  // otherwise the held events are given to the page after all. Progress
  // events of a held answer (readyState 2 and 3) are not replayed.

  const guards = new WeakMap();

  function reasonOf(xhr) {
    try {
      const type = xhr.responseType;
      if (type === "" || type === "text") {
        return JSON.parse(xhr.responseText).reason;
      }
      if (type === "json") {
        return xhr.response && xhr.response.reason;
      }
      if (type === "arraybuffer") {
        return JSON.parse(new TextDecoder().decode(xhr.response)).reason;
      }
    } catch (error) {
      return undefined;
    }
    return undefined; // a Blob or Document cannot be read synchronously
  }

  function patchXHR(proto) {
    const native = {
      open: proto.open,
      send: proto.send,
      setRequestHeader: proto.setRequestHeader,
      abort: proto.abort,
      addEventListener: proto.addEventListener,
      removeEventListener: proto.removeEventListener,
    };

    // Whether the page's listeners must wait. Decides on the first call at
    // readyState 4, before any of the page's listeners has run.
    function held(xhr) {
      const state = xhr[STATE];
      if (!state || !state.armed || xhr.readyState < 2) {
        return false;
      }
      if (state.suspect === undefined) {
        state.suspect = xhr.status === 403 && isProblem(xhr.getResponseHeader("content-type"));
      }
      if (!state.suspect) {
        return false;
      }
      if (xhr.readyState < 4) {
        return true;
      }
      if (state.retrying === undefined) {
        state.retrying = RETRY_REASONS.has(reasonOf(xhr));
        if (state.retrying) {
          retry(xhr, state);
        }
      }
      return state.retrying;
    }

    async function retry(xhr, state) {
      const fresh = await refresh();
      if (xhr[STATE] !== state || state.aborted) {
        return; // the page moved on: aborted, or opened the XHR anew
      }
      if (!fresh) {
        state.retrying = false;
        xhr.dispatchEvent(new Event("readystatechange"));
        xhr.dispatchEvent(new ProgressEvent("load"));
        xhr.dispatchEvent(new ProgressEvent("loadend"));
        return;
      }
      state.armed = false; // once: the second answer goes to the page as it is
      native.open.apply(xhr, state.openArgs);
      for (const [name, value] of state.headers) {
        if (!sameName(name, settings.header)) {
          native.setRequestHeader.call(xhr, name, value);
        }
      }
      native.setRequestHeader.call(xhr, settings.header, fresh);
      native.send.call(xhr, state.body);
    }

    function settle() {
      held(this);
    }

    function guard(listener) {
      const callable = typeof listener === "function";
      if (!callable && !(listener && typeof listener.handleEvent === "function")) {
        return listener;
      }
      let wrapper = guards.get(listener);
      if (!wrapper) {
        wrapper = function (event) {
          if (held(this)) {
            return undefined;
          }
          return callable ? listener.call(this, event) : listener.handleEvent(event);
        };
        guards.set(listener, wrapper);
      }
      return wrapper;
    }

    proto.open = function open(method, url, async) {
      this[STATE] = {
        openArgs: Array.from(arguments),
        method: String(method),
        url: String(url),
        sync: arguments.length > 2 && !async,
        headers: [],
      };
      return native.open.apply(this, arguments);
    };

    proto.setRequestHeader = function setRequestHeader(name, value) {
      const state = this[STATE];
      if (state) {
        state.headers.push([String(name), String(value)]);
      }
      return native.setRequestHeader.call(this, name, value);
    };

    proto.send = function send(body) {
      const state = this[STATE];
      if (state && needsToken(state.method, state.url)) {
        // htmx or the page may have set the header already; adding it again
        // would send two values.
        const value = state.headers.some(([name]) => sameName(name, settings.header))
          ? ""
          : token();
        if (value) {
          native.setRequestHeader.call(this, settings.header, value);
        }
        if (!state.sync) {
          state.body = body === undefined ? null : body;
          state.armed = true;
          native.addEventListener.call(this, "readystatechange", settle);
        }
      }
      return native.send.apply(this, arguments);
    };

    proto.abort = function abort() {
      const state = this[STATE];
      if (state) {
        state.aborted = true;
      }
      return native.abort.apply(this, arguments);
    };

    proto.addEventListener = function addEventListener(type, listener, options) {
      return native.addEventListener.call(this, type, guard(listener), options);
    };

    proto.removeEventListener = function removeEventListener(type, listener, options) {
      const wrapper = listener && guards.get(listener);
      return native.removeEventListener.call(this, type, wrapper || listener, options);
    };

    for (const name of [
      "onreadystatechange",
      "onloadstart",
      "onprogress",
      "onabort",
      "onerror",
      "onload",
      "ontimeout",
      "onloadend",
    ]) {
      let descriptor;
      for (let o = proto; o && !descriptor; o = Object.getPrototypeOf(o)) {
        descriptor = Object.getOwnPropertyDescriptor(o, name);
      }
      if (!descriptor || !descriptor.get || !descriptor.set) {
        continue;
      }
      Object.defineProperty(proto, name, {
        configurable: true,
        enumerable: descriptor.enumerable,
        get() {
          const handlers = this[HANDLERS];
          return handlers && name in handlers ? handlers[name] : descriptor.get.call(this);
        },
        set(value) {
          (this[HANDLERS] || (this[HANDLERS] = {}))[name] = value;
          descriptor.set.call(this, typeof value === "function" ? guard(value) : value);
        },
      });
    }
  }

  if (window.XMLHttpRequest) {
    patchXHR(window.XMLHttpRequest.prototype);
  }

  // htmx ------------------------------------------------------------------------
  // htmx 2 sends through XMLHttpRequest, so the retry above covers it; the
  // header goes in here, where htmx expects it, and htmx:configRequest names
  // the verb and path htmx resolved.

  document.addEventListener("htmx:configRequest", (event) => {
    const detail = event.detail;
    if (!detail || !detail.headers || !needsToken(detail.verb, detail.path)) {
      return;
    }
    if (Object.keys(detail.headers).some((name) => sameName(name, settings.header))) {
      return;
    }
    const value = token();
    if (value) {
      detail.headers[settings.header] = value;
    }
  });

  // The API ----------------------------------------------------------------------

  const api = Object.freeze({
    /** The current token ("" when the page has none yet). */
    token,
    /** Ask the token endpoint for a fresh token; resolves to it, or "". */
    refresh,
    /** Change { header, tokenUrl }. */
    configure(options) {
      for (const key of ["header", "tokenUrl"]) {
        if (options && typeof options[key] === "string" && options[key]) {
          settings[key] = options[key];
        }
      }
    },
    /** A copy of the settings in force. */
    options() {
      return { ...settings };
    },
    /** Whether a URL would get the token: same origin, after resolution. */
    isSameOrigin,
  });
  Object.defineProperty(window, "forgeproofCSRF", { value: api, enumerable: false });
})();
