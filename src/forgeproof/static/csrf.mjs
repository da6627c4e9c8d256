// forgeproof CSRF helper as an ES module: importing it installs csrf.js
// (once, even if a classic <script> tag loaded it too) and exports its API.
//
//   import csrf from "/forgeproof/csrf.mjs";
//   csrf.token(); await csrf.refresh(); csrf.configure({ header, tokenUrl });
//
// csrf.js is a classic script that is also valid module code, so the same
// file serves both ways and there is one copy of the logic to audit.
import "./csrf.js";

const csrf = window.forgeproofCSRF;

// A module has no currentScript; the token endpoint sits beside this file
// unless the page said otherwise.
if (!csrf.options().tokenUrl) {
  csrf.configure({ tokenUrl: new URL("token", import.meta.url).href });
}

export const { token, refresh, configure, options, isSameOrigin } = csrf;
export default csrf;
