// The broker core names peers by their ROUTER routing ids; its users need the type without importing ZeroMQ.
@_exported import struct ZeroMQ.PeerID
