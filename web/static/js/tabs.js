// WAI-ARIA tabs: click or arrow keys move between tabs; the URL hash remembers the open one.

export function setupTabs(tablist, onShow = () => {}) {
  const tabs = Array.from(tablist.querySelectorAll('[role="tab"]'));
  function select(tab, focus = true) {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    history.replaceState(null, "", `#${tab.id.replace(/^tab-/, "")}`);
    onShow(tab.id.replace(/^tab-/, ""));
  }
  tablist.addEventListener("click", (e) => {
    const tab = e.target.closest('[role="tab"]');
    if (tab) select(tab);
  });
  tablist.addEventListener("keydown", (e) => {
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
    if (e.key in moves) {
      e.preventDefault();
      select(tabs[(moves[e.key] + tabs.length) % tabs.length]);
    }
  });
  const initial = tabs.find((t) => `#${t.id.replace(/^tab-/, "")}` === location.hash);
  if (initial) select(initial, false);
  return { select: (name) => select(document.getElementById(`tab-${name}`)) };
}
