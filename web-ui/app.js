// Placeholder UI: lists the daemon's plugins. Every string from the API is set as text,
// never as HTML.
const list = document.getElementById('plugins');

function item(text) {
  const li = document.createElement('li');
  li.textContent = text;
  return li;
}

async function load() {
  try {
    const response = await fetch('/api/v1/plugins');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    list.replaceChildren(...body.plugins.map((p) => item(`${p.id} ${p.version} (${p.world}): ${p.state}`)));
  } catch (err) {
    list.replaceChildren(item(`Could not load plugins: ${err.message}`));
  }
}

load();
