// Shared by the pages: lookups, escaping, messages, and the API call that sends the key
// and turns an error body {"code", "message"} into an Error. Inlined by the server.
const $ = (s) => document.querySelector(s);
const esc = (x) => String(x ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));

function showError(msg) {
  const e = $('#error');
  e.textContent = msg; e.style.display = msg ? 'block' : 'none';
  if (msg) $('#notice').style.display = 'none';
}
function notice(msg) { const n = $('#notice'); n.textContent = msg; n.style.display = msg ? 'block' : 'none'; }

async function api(method, path, body, type) {
  const headers = {};
  const key = $('#key').value.trim();
  if (key) headers['Authorization'] = 'Bearer ' + key;
  if (body !== undefined) headers['Content-Type'] = type || 'application/json';
  let r;
  try { r = await fetch(path, { method, headers, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) }); }
  catch (e) { throw new Error('network error: ' + e.message); }
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const m = j && j.message ? j.message : (text || r.statusText);
    throw new Error(r.status + (j && j.code ? ' [' + j.code + ']' : '') + ': ' + m);
  }
  return j;
}
