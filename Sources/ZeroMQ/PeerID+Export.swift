// A ROUTER socket names its peers by routing id; the type lives in ParleyWire (the cores use it without libzmq).
@_exported import struct ParleyWire.PeerID
