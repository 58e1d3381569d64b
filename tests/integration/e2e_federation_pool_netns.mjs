// The one pool across network namespaces: three `tessera node` processes,
// each in a namespace of its own on 10.213.N.0/24 (a veth pair to a bridge;
// tests/integration/netns.mjs), each with two local workers that cannot hold
// the model, so activations cross real interfaces between namespaces. A
// prompt at each node equals the whole model; then a follower that serves a
// stage has its link cut (its veth down, the process alive) mid-generation:
// the leader re-plans over the other nodes and their requests finish with
// the fault-free tokens, while a client inside the cut-off namespace is told
// {status: "queued", reason: "no federation leader reachable"}. The link is
// restored: the node rejoins the pool and serves again.
// Where namespaces cannot be made (not root, no `ip`), the same nodes run on
// 127.0.0.1 with a printed note, without the cut.
//   node e2e_federation_pool_netns.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';
import { freePort } from './federation_cluster.mjs';
import { planText, pool, poolSettled, queuedReason, stageNodes, underFault } from './federation_pool.mjs';
import * as netns from './netns.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(900000, 'e2e_federation_pool_netns');
const dir = h.tmpDir('tessera-fedpool-ns-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const ids = ['a', 'b', 'c'];
const MAX = 16;
const prompts = ['The quick brown fox', 'zzz'];
const nodes = {};
const { net, why } = netns.make(ids);
if (net) process.on('exit', () => netns.remove(net));  // after the harness has killed the nodes
else console.log(`# note: no network namespaces here (${why}): the nodes run on 127.0.0.1, and the link cut is skipped`);

// Node `id`'s config: its gateway and federation port on its own address.
async function configure(id, fedPort) {
  const nodeDir = path.join(dir, id);
  fs.mkdirSync(nodeDir, { recursive: true });
  const file = h.writeConfig(nodeDir, {
    modelDir, restart: 'never', workers: [{ name: `${id}1`, memory: '100MB' }, { name: `${id}2`, memory: '100MB' }],
    auth: net ? { open: 'true' } : undefined,  // a private test range beyond loopback, no keys
  });
  const host = net ? net.nodes[id].address : '127.0.0.1';
  const text = fs.readFileSync(file, 'utf8').replace('listen = "127.0.0.1:0"', `listen = "${host}:0"`);
  const peers = ids.filter((p) => p !== id).map((p) => `"${net ? net.nodes[p].address : '127.0.0.1'}:${fedPort[p]}"`);
  fs.writeFileSync(file, text + ['[federation]', `id = "${id}"`, `listen = "${host}:${fedPort[id]}"`,
    `peers = [${peers.join(', ')}]`, 'secret = "pool-netns-secret-0123456789"', 'heartbeat_ms = 300',
    'heartbeat_timeout_ms = 1500', `state_dir = "${path.join(nodeDir, 'state')}"`, 'pool = true'].join('\n') + '\n');
  return { file, nodeDir, host };
}

try {
  const refs = h.reference(modelDir, MAX, prompts);
  const fedPort = {};
  for (const id of ids) fedPort[id] = net ? 7100 : await freePort();  // one address per namespace: the same port
  for (const id of ids) {
    const { file, nodeDir, host } = await configure(id, fedPort);
    const wrap = net ? (c, a) => netns.inside(net, id, [c, ...a]) : undefined;
    nodes[id] = { ...(await h.startNode(tessera, file, nodeDir, { waitReady: false, wrap })), host };
  }
  const settled = await poolSettled(nodes, ids, 'a', 6, [], 'a cross-node plan over all six workers');
  console.log(`# plan: ${planText(settled[0])}${net ? ` (nodes at ${ids.map((id) => net.nodes[id].address).join(', ')})` : ''}`);
  for (const id of ids) {
    const runs = await Promise.all(prompts.map((p) => h.prompt(tessera, nodes[id].port, p, { 'max-tokens': MAX }, nodes[id].host)));
    runs.forEach((r, i) => h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[prompts[i]]),
                                   `at node ${id} (${nodes[id].host}): "${prompts[i]}" equals the whole model`));
  }

  if (net) {
    // The link of a follower that serves a stage is cut mid-generation.
    const victim = stageNodes(settled[0]).find((n) => n !== 'a');
    h.check(victim !== undefined, `a follower serves a stage (${victim})`);
    const others = ids.filter((id) => id !== victim);
    const ms = await underFault(tessera, nodes, others, prompts, MAX, refs, `node ${victim}'s link cut`,
                                () => netns.cut(net, victim));
    console.log(`# ${ms} ms from the cut to the end of the runs`);
    const after = await poolSettled(nodes, others, 'a', 4, [victim], `a re-plan without node ${victim}`);
    console.log(`# plan while ${victim} is cut off: ${planText(after[0])}`);
    const queued = await queuedReason(...netns.inside(net, victim, [tessera, 'prompt', '--json', '--url',
      `ws://${nodes[victim].host}:${nodes[victim].port}/ws/generate`, '--max-tokens', '4', 'anyone there?']));
    h.check(queued === 'no federation leader reachable', `a client inside ${victim}'s namespace is queued: "${queued}"`);

    // The link comes back: the node rejoins the pool and serves again.
    netns.restore(net, victim);
    const back = await poolSettled(nodes, ids, 'a', 6, [], `node ${victim} rejoining after its link came back`);
    h.check(Object.keys(pool(back[0]).workers).includes(victim), `node ${victim}'s workers are in the pool again`);
    const again = await h.prompt(tessera, nodes[victim].port, prompts[0], { 'max-tokens': MAX }, nodes[victim].host);
    h.check(JSON.stringify(again.tokens) === JSON.stringify(refs[prompts[0]]), `node ${victim} serves again after the cut`);
  }

  for (const id of ids) {
    const stopped = await h.stopNode(nodes[id]);
    h.check(stopped.code === 0, `node ${id} stops cleanly (SIGTERM)`);
    nodes[id] = null;
  }
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_federation_pool_netns');
} catch (e) {
  await h.fail(e, dir, { nodes: Object.values(nodes).filter(Boolean) });
}
process.exit(0);
