"""CometBFT v0.38-compatible JSON-RPC for egp-chain: HTTP POST (single and batch), GET URI form, WebSocket.

Theory of operation: the node hands `node.rpc.server.create_rpc_app(services, config)` an object that
implements `node.rpc.services.RpcServices` (views of its block store, application, mempool, peers, the
event bus and the indexer). Requests are parsed into typed params (params.py), dispatched to one coroutine
per method (methods_chain.py, methods_tx.py), and the views they return are encoded into CometBFT's JSON
shapes (encode.py). Every failure becomes a JSON-RPC error object (errors.py); nothing escapes as a stack
trace. WebSocket subscriptions (websocket.py, methods_events.py; the broadcast fast path ws_fast.py) ride on
node/events.py; searches on node/indexer.py (tx records: node/txrecord.py) with the query language of query.py.

Kept free of imports so that node/events.py and node/indexer.py can use the leaf modules without cycles.
"""
