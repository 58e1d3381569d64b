// Network namespaces for federation tests: one namespace per node, each
// joined to a bridge in the root namespace by a veth pair, on a private
// address range (10.213.N.0/24, N from the pid), so traffic between nodes
// really crosses interfaces and a node's link can be cut (its veth set down)
// and restored. Needs root and `ip`; make() returns undefined (and why) where
// namespaces cannot be made, for a loopback fallback. Every name carries the
// pid, so concurrent runs do not collide; remove() deletes what make() made.
import { execFileSync } from 'node:child_process';

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function make(ids) {
  const tag = String(process.pid % 100000);
  const subnet = `10.213.${process.pid % 250}`;
  const net = { bridge: `tfb${tag}`, hostIp: `${subnet}.254`, nodes: {}, made: [] };
  try {
    ip('link', 'add', net.bridge, 'type', 'bridge');
    net.made.push(() => ip('link', 'del', net.bridge));
    ip('addr', 'add', `${net.hostIp}/24`, 'dev', net.bridge);
    ip('link', 'set', net.bridge, 'up');
    ids.forEach((id, i) => {
      const ns = `tf${tag}-${id}`;
      const host = `tf${tag}${id}h`;
      const inner = `tf${tag}${id}n`;
      ip('netns', 'add', ns);
      net.made.push(() => ip('netns', 'del', ns));
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inner);
      net.made.push(() => { try { ip('link', 'del', host); } catch {} });  // gone with its namespace already
      ip('link', 'set', inner, 'netns', ns);
      ip('link', 'set', host, 'master', net.bridge);
      ip('link', 'set', host, 'up');
      const address = `${subnet}.${i + 1}`;
      ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/24`, 'dev', inner);
      ip('netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up');
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      net.nodes[id] = { ns, host, address };
    });
    return { net };
  } catch (e) {
    remove(net);
    return { why: (e.stderr ? e.stderr.toString().trim() : '') || e.message };
  }
}

// Cuts node `id` off (its veth in the root namespace down) or restores it.
export function cut(net, id) { ip('link', 'set', net.nodes[id].host, 'down'); }
export function restore(net, id) { ip('link', 'set', net.nodes[id].host, 'up'); }

// argv to run a command inside node `id`'s namespace.
export const inside = (net, id, argv) => ['ip', ['netns', 'exec', net.nodes[id].ns, ...argv]];

export function remove(net) {
  for (const undo of net.made.reverse()) {
    try { undo(); } catch {}
  }
  net.made = [];
}
