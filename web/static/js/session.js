// On every page: mark the current menu entry, sign out, and (for pages that load nothing more)
// say the page is usable.
import { rest } from "./api.js";
import { markReady } from "./dom.js";

for (const link of document.querySelectorAll("header.site a[href]")) {
  const href = link.getAttribute("href");
  if (href !== "/" && (location.pathname === href || location.pathname.startsWith(`${href}/`))) {
    link.setAttribute("aria-current", "page");
  }
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    try { await rest("POST", "/auth/logout"); } finally { location.assign("/"); }
  });
}

// Pages whose script loads data mark <main aria-busy="true"> and call markReady() themselves.
if (document.getElementById("main")?.getAttribute("aria-busy") !== "true") markReady();
