// Drives a running egp-chain node with @cosmjs/tendermint-rpc's Comet38Client (the reference CometBFT
// v0.38 client of the Cosmos ecosystem) and prints a JSON summary of what it read. Any decoding failure
// in cosmjs (a wrong JSON type, a missing field) throws and makes the process exit non-zero.
// Input: the environment variable EGP_INTEROP = {http, ws, chainId, txSync, txCommit, txQuery, queryPath}.
"use strict";
const { Comet38Client, connectComet } = require("@cosmjs/tendermint-rpc");
const { fromBase64, toHex } = require("@cosmjs/encoding");
const crypto = require("crypto");

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

function firstEvent(stream, what, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no " + what + " event within " + ms + " ms")), ms);
    const sub = stream.subscribe({
      next: (ev) => { clearTimeout(timer); setTimeout(() => sub.unsubscribe(), 0); resolve(ev); },
      error: (err) => { clearTimeout(timer); reject(err); },
      complete: () => {},
    });
  });
}

async function main() {
  const cfg = JSON.parse(process.env.EGP_INTEROP);
  const out = {};
  const client = await connectComet(cfg.http);
  check(client instanceof Comet38Client, "connectComet picked Comet38Client (node_info.version 0.38.x)");

  const status = await client.status();
  check(status.nodeInfo.network === cfg.chainId, "status network");
  const h = status.syncInfo.latestBlockHeight;
  out.status = { height: h, network: status.nodeInfo.network, version: status.nodeInfo.version,
                 latestBlockHash: toHex(status.syncInfo.latestBlockHash).toUpperCase() };

  const block = await client.block(h);
  check(block.block.header.height === h, "block height");
  out.block = { height: block.block.header.height, hash: toHex(block.blockId.hash).toUpperCase(),
                chainId: block.block.header.chainId, txs: block.block.txs.length };
  const chainView = await client.blockchain(1, h);
  out.blockchain = { lastHeight: chainView.lastHeight, metas: chainView.blockMetas.map((m) => m.header.height) };
  const results = await client.blockResults(h);
  out.blockResults = { height: results.height, txs: results.results.length };
  const commit = await client.commit(h);
  out.commit = { height: commit.header.height, signatures: commit.commit.signatures.length,
                 canonical: commit.canonical };
  // An older height (the node keeps the validator set of every stored height) and the latest one.
  const vals = await client.validatorsAll(1);
  check(vals.blockHeight === 1, "validatorsAll(1) answers for height 1");
  const latestVals = await client.validatorsAll();
  out.validators = { total: vals.total, first: toHex(vals.validators[0].address).toUpperCase(),
                     power: Number(vals.validators[0].votingPower), latestTotal: latestVals.total };
  const genesis = await client.genesis();
  out.genesis = { chainId: genesis.chainId, validators: (genesis.validators || []).length };

  // Subscriptions over the WebSocket (Comet38Client.connect appends /websocket to ws:// URLs).
  const ws = await Comet38Client.connect(cfg.ws);
  const newBlock = firstEvent(ws.subscribeNewBlock(), "NewBlock", 30000);
  const txEvent = firstEvent(ws.subscribeTx(cfg.txQuery), "Tx", 30000);

  const syncTx = fromBase64(cfg.txSync);
  const sync = await client.broadcastTxSync({ tx: syncTx });
  check(sync.code === 0, "broadcastTxSync code 0: " + sync.log);
  check(toHex(sync.hash) === crypto.createHash("sha256").update(syncTx).digest("hex"), "broadcastTxSync hash");
  out.broadcastTxSync = { code: sync.code, hash: toHex(sync.hash).toUpperCase() };
  const pending = await client.numUnconfirmedTxs();
  out.numUnconfirmedTxs = { total: pending.total, totalBytes: pending.totalBytes };

  const committed = await client.broadcastTxCommit({ tx: fromBase64(cfg.txCommit) });
  check(committed.checkTx.code === 0 && committed.txResult.code === 0,
        "broadcastTxCommit codes: " + committed.checkTx.log + " " + (committed.txResult.log || ""));
  check(committed.height > 0, "broadcastTxCommit height");
  out.broadcastTxCommit = { height: committed.height, hash: toHex(committed.hash).toUpperCase() };

  const found = await client.tx({ hash: committed.hash, prove: true });
  check(found.height === committed.height, "tx found at once at its commit height");
  out.tx = { height: found.height, index: found.index, events: found.result.events.length,
             proof: found.proof ? toHex(found.proof.rootHash).toUpperCase() : null };

  const search = await client.txSearchAll({ query: cfg.txQuery });
  out.txSearchAll = { totalCount: search.totalCount,
                      hashes: search.txs.map((t) => toHex(t.hash).toUpperCase()) };

  const q = await client.abciQuery({ path: cfg.queryPath, data: new Uint8Array(), prove: true });
  out.abciQuery = { code: q.code, height: q.height, value: Buffer.from(q.value).toString("utf8") };
  const info = await client.abciInfo();
  out.abciInfo = { lastBlockHeight: info.lastBlockHeight };

  const nb = await newBlock;
  out.newBlockEvent = { height: nb.header.height, chainId: nb.header.chainId };
  const te = await txEvent;
  out.txEvent = { height: te.height, hash: toHex(te.hash).toUpperCase(), code: te.result.code };

  ws.disconnect();
  client.disconnect();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write("interop failed: " + (err && err.stack ? err.stack : String(err)) + "\n");
  process.exit(1);
});
