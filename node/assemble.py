"""Build a running node from a home directory (`egp start`), and run it until SIGTERM/SIGINT.

One LevelDB database (`<home>/data/egp.db`) holds every namespace — `app/` (application state), the block
store's `blockstore/`, `node/` (the `ChainState`), `ix/` (tx and block index) — so one atomic batch can
span them. The signer state stays a separate fsynced JSON file (CometBFT's layout, operators know it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from node import byzantine, crashpoints, gctune, threadnames
from node.applier import BlockApplier
from node.blockstore import BlockStore
from node.config import Config, parse_laddr
from node.events import EventBus
from node.evidence import StoredHistory
from node.genesis import Genesis, load_genesis
from node.handshake import handshake
from node.home import Home
from node.indexer import Indexer
from node.logs import get_logger, setup_logging
from node.mempool import Admission, Mempool
from node.messages import ProposalMsg, VoteMsg, is_txs_message
from node.metrics import Metrics
from node.node import LockingAppPort, Node
from node.nodeapp import NodeApp
from node.p2p import P2P, Message, PeerDown, PeerUp
from node.p2p.config import ChannelSpec, P2PConfig, parse_peers
from node.privval import DoubleSignError, FilePV, check_double_sign_risk, take_back_journal
from node.rpc.config import RpcConfig, from_config_section
from node.rpc.server import RpcServer
from node.runtime import CH_BLOCKSYNC, CH_DATA, CH_EVIDENCE, CH_MEMPOOL, CH_STATE, CH_VOTE, NodeOptions
from node.services import NodeServices
from node.statestore import StateStore, state_from_genesis
from node.wal import ConsensusWAL
from state.abci import Application
from state.chain import Block, FinalizeBlockResult
from state.crypto import address, load_node_key
from state.kv import Batch
from state.kv_level import LevelKV

log = get_logger("node")
NS_APP, NS_NODE, NS_INDEX, NS_WAL = b"app/", b"node/", b"ix/", b"wal/"
CHANNELS = {
    CH_STATE: ChannelSpec(priority=5, name="state"),
    CH_DATA: ChannelSpec(priority=5, name="data"),
    CH_VOTE: ChannelSpec(priority=10, name="vote"),
    CH_MEMPOOL: ChannelSpec(priority=1, name="mempool"),
    CH_EVIDENCE: ChannelSpec(priority=2, name="evidence"),
    CH_BLOCKSYNC: ChannelSpec(priority=3, name="blocksync", send_queue_bytes=64 * 1024 * 1024),
}


@dataclass
class Running:
    home: Path
    config: Config
    genesis: Genesis
    kv: LevelKV
    app: NodeApp
    store: BlockStore
    p2p: P2P
    pv: FilePV | None
    node: Node
    rpc: RpcServer | None
    metrics: Metrics
    metrics_runner: web.AppRunner | None = None


def _p2p_config(cfg: Config, genesis: Genesis) -> P2PConfig:
    host, port = parse_laddr(cfg.p2p.laddr)
    return P2PConfig(
        listen=f"{host}:{port}",
        persistent_peers=parse_peers(cfg.p2p.persistent_peers),
        allowed_peer_ids=frozenset(cfg.p2p.allowed_peer_ids),
        network=genesis.chain_id,
        moniker=cfg.base.moniker,
        external_address=cfg.p2p.external_address,
        max_frame_bytes=cfg.p2p.max_frame_bytes,
        handshake_timeout=cfg.p2p.handshake_timeout / 1000,
        dial_timeout=cfg.p2p.dial_timeout / 1000,
        backoff_max=cfg.p2p.max_reconnect_backoff / 1000,
        backoff_base=0.25,
    )


def _rpc_config(cfg: Config) -> RpcConfig | None:
    if not cfg.rpc.laddr:
        return None
    host, port = parse_laddr(cfg.rpc.laddr)
    return from_config_section(cfg.rpc, host, port)  # every [rpc] limit of config.toml, not only some


async def build(home: Path, *, unsafe_ignore_signer_state: bool = False) -> Running:
    h = Home(home)
    cfg = h.load_config()
    paths = h.paths(cfg)
    genesis = load_genesis(paths.genesis_file)
    threadnames.install()  # the node's threads carry their names into /proc (egp bench splits CPU by thread)
    kv = LevelKV(paths.db_path)
    store = BlockStore(kv)
    # the block store keeps each height's results (the app's FinalizeBlock response, same bytes): the app's
    # replay record would repeat them (state/abci.py `stored_response`)
    app = NodeApp(Application(kv.prefixed(NS_APP), trie_cache_bytes=cfg.storage.trie_cache_mib << 20,
                              stored_response=store.load_results))
    states = StateStore(kv, NS_NODE)
    indexer = Indexer(kv, NS_INDEX)
    crash = crashpoints.from_environment()
    st = states.load()
    if st is None:
        a_height, _ = app.last_height_and_hash()
        app_hash = app.init_chain(genesis) if a_height == 0 else app.last_height_and_hash()[1]
        st = state_from_genesis(genesis, app_hash)
        states.save(st)
    bus = EventBus()

    def index(batch: Batch, block: Block, result: FinalizeBlockResult) -> None:
        if cfg.tx_index.indexer == "kv":
            indexer.index_chain_block(batch, block, result)  # the app's records, as they are

    app_port = LockingAppPort(app)  # app.commit locks the mempool when the node commits in its worker thread
    applier = BlockApplier(app_port, store, kv, states, crash.hit, index)

    app.valset_of = StoredHistory(states, store).validators_at
    report = handshake(applier, app, st)
    st = report.state
    log.info("handshake done", height=st.last_height, replayed=report.replayed, app_hash=st.app_hash)
    pv = None
    key_path = paths.priv_validator_key_file
    validator_addrs = {address(v.pub_key) for v in genesis.validators}
    if key_path.exists():
        # the signer state the WAL's last synced record holds, if the file (which follows it without fsync) is
        # behind, torn or gone after a power failure (node/privval.py "Journaled mode")
        taken = take_back_journal(paths.priv_validator_state_file, ConsensusWAL(kv.prefixed(NS_WAL)).signer_state())
        if taken is not None:
            log.warning("signer state file taken back from the consensus WAL's record", height=taken.height,
                        round=taken.round, step=taken.step)
        pv = FilePV.load(key_path, paths.priv_validator_state_file, genesis.chain_id,
                         chain_height=st.last_height, force=unsafe_ignore_signer_state)
        # what we signed and the WAL kept (synced before it left the node) but the state file lost with its
        # last rename (one atomic write per signature, node/privval.py): the guard takes it back first
        wal_msgs = ConsensusWAL(kv.prefixed(NS_WAL)).replay(st.height)
        back = pv.recover(m.vote() if isinstance(m, VoteMsg) else m.proposal()
                          for m in wal_msgs if isinstance(m, (VoteMsg, ProposalMsg)))
        if back is not None:
            log.warning("signer state taken back from the consensus WAL", height=back.height, round=back.round,
                        step=back.step)
        check = cfg.consensus.double_sign_check_height
        if check > 0:  # the same key signing elsewhere: refuse before this node signs anything
            try:
                check_double_sign_risk(store, pv.address, st.last_height, check)
            except DoubleSignError:
                kv.close()
                raise
    node_key = load_node_key(paths.node_key_file)
    p2p = P2P(node_key, _p2p_config(cfg, genesis), CHANNELS)
    params = genesis.consensus_params
    from consensus.types import ConsensusParams

    metrics = Metrics(genesis.chain_id)
    metrics.validators = len(genesis.validators)
    mempool = Mempool(app.check, size=cfg.mempool.size, max_txs_bytes=cfg.mempool.max_txs_bytes,
                      max_tx_bytes=cfg.mempool.max_tx_bytes, cache_size=cfg.mempool.cache_size,
                      recheck=cfg.mempool.recheck, recheck_many=app.app.recheck_txs)
    address_ = pv.address if pv is not None else None
    if address_ is not None and address_ not in validator_addrs:
        log.info("this key is not in the genesis validator set; running as a non-validator")

    def on_block(block: Block, result: FinalizeBlockResult) -> None:
        bus.publish_chain_block(block, result)  # the block's view is made only if a block event is encoded

    signer, network = byzantine.install(pv, p2p)  # test-only seam, inert unless armed: see node/byzantine.py
    node = Node(
        options=NodeOptions(genesis.chain_id, ConsensusParams(timeouts=params.timeout_params()),
                            params.block_max_bytes, cfg.blocksync.enable, cfg.blocksync.switch_threshold,
                            cfg.consensus.create_empty_blocks, cfg.consensus.create_empty_blocks_interval,
                            cfg.mempool.broadcast),
        state=st, app=app, applier=applier, mempool=mempool, signer=signer, address=address_, network=network,
        metrics=metrics, on_block=on_block, wal=ConsensusWAL(kv.prefixed(NS_WAL)),
        admission=Admission(mempool, app.app.preverify, app.app.admit_verified),
    )
    node.data_dir = str(paths.db_path)
    node.commit_worker = ThreadPoolExecutor(1, thread_name_prefix="egp-commit")  # CommitThread (node/commit_thread.py)
    node.install_commit_lock(app_port)
    run = Running(home, cfg, genesis, kv, app, store, p2p, pv, node, None, metrics)
    rpc_cfg = _rpc_config(cfg)
    if rpc_cfg is not None:
        services = NodeServices(run, bus, indexer)
        run.rpc = RpcServer(services, rpc_cfg, node.wait_idle)  # chain reads wait for a commit in progress
        if cfg.instrumentation.prometheus and not cfg.instrumentation.prometheus_listen_addr:
            run.rpc.app.router.add_get("/metrics", _metrics_handler(metrics))
    return run


async def _start_metrics_server(run: Running) -> None:
    """`/metrics` on its own address when `prometheus_listen_addr` is set (else it is on the RPC server)."""
    inst = run.config.instrumentation
    if not inst.prometheus or not inst.prometheus_listen_addr:
        return
    host, port = parse_laddr(inst.prometheus_listen_addr)
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(run.metrics))
    run.metrics_runner = web.AppRunner(app, access_log=None)
    await run.metrics_runner.setup()
    await web.TCPSite(run.metrics_runner, host, port).start()
    log.info("metrics listening", addr=f"{host}:{port}")


def _metrics_handler(metrics: Metrics):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    return handler


def _handle_signals(run: Running, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT with a Python-level handler, not `loop.add_signal_handler`: the latter only runs once
    the loop gets control back, so a signal during a long commit or a burst of queued peer messages waited
    for all of them. This one runs between bytecodes: it marks the node stopping at once (no further message,
    timeout or block is started; the block being committed completes, its batch is atomic) and wakes the loop."""

    def on_signal(signum: int, _frame: object) -> None:
        first = not run.node.stopping
        run.node.stopping = True
        with contextlib.suppress(RuntimeError):  # the loop is already closed: we are exiting anyway
            loop.call_soon_threadsafe(stop.set)
            if first:  # logged from the loop: a handler interrupting the logging module must not re-enter it
                name = signal.Signals(signum).name
                loop.call_soon_threadsafe(lambda: log.info("signal received; stopping", signal=name))

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


PUMP_YIELD_EVERY = 32  # p2p.recv() does not yield while its inbox holds events: give RPC and timers a turn


async def _pump(run: Running) -> None:
    node = run.node
    handled = 0
    while True:
        ev = await run.p2p.recv()
        if node.committing and not (isinstance(ev, Message) and is_txs_message(ev.payload)):
            await node.wait_idle()  # peers' messages but txs wait in the p2p inbox while a block commits
        handled += 1
        if handled % PUMP_YIELD_EVERY == 0:
            await asyncio.sleep(0)
        try:
            if isinstance(ev, Message):
                node.handle_payload(ev.peer_id, ev.payload)
            elif isinstance(ev, PeerUp):
                node.gossip.add_peer(ev.peer.node_id)
                node.net.send(ev.peer.node_id, CH_STATE, node.status().encode())
                node.send_mempool_to(ev.peer.node_id)
            elif isinstance(ev, PeerDown):
                node.gossip.remove_peer(ev.peer_id)
        except Exception as exc:
            if not node.storage_failed(exc):
                log.error("failed to handle a peer event", exc=True)


def _loop_error(run: Running, ctx: dict[str, object]) -> None:
    exc = ctx.get("exception")
    if isinstance(exc, BaseException) and run.node.storage_failed(exc):
        return
    log.error("unhandled error in the event loop", detail=str(exc or ctx.get("message")))


async def run_node(home: Path, log_level: str | None = None, *, unsafe_ignore_signer_state: bool = False) -> int:
    cfg = Home(home).load_config()
    setup_logging(log_level or cfg.base.log_level, cfg.base.log_format)
    run = await build(home, unsafe_ignore_signer_state=unsafe_ignore_signer_state)
    gctune.tune_for_node()  # fewer, cheaper cyclic collections from here on (node/gctune.py)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _l, ctx: _loop_error(run, ctx))
    _handle_signals(run, loop, stop)
    await run.p2p.start()
    if run.rpc is not None:
        port = await run.rpc.start()
        log.info("rpc listening", port=port)
    await _start_metrics_server(run)
    pump = asyncio.create_task(_pump(run))
    run.node.start()
    log.info("node started", moniker=run.config.base.moniker, node_id=run.p2p.node_id,
             height=run.node.state.last_height)
    failed = asyncio.create_task(run.node.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([failed, stopped], return_when=asyncio.FIRST_COMPLETED)
    for t in (failed, stopped):
        t.cancel()
    log.info("shutting down")
    await run.node.stop()
    pump.cancel()
    with contextlib.suppress(BaseException):
        await pump
    if run.rpc is not None:
        await run.rpc.stop()
    if run.metrics_runner is not None:
        await run.metrics_runner.cleanup()
    await run.p2p.stop()
    try:
        run.kv.close()
    except Exception as exc:  # a store that failed a write may fail its close too: still exit cleanly
        log.warning("closing the database failed", reason=str(exc))
    if run.node.fatal:
        if run.node.fatal_logged:
            log.error("stopped after a fatal error")
        else:
            log.error("stopped after a fatal error", reason=run.node.fatal)
        return 1
    log.info("stopped")
    return 0
