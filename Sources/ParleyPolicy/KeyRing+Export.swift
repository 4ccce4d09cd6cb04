// The key ring's values live in ParleyWire (the broker core reads them without Yams or libzmq); its loading and
// validation live here.
@_exported import struct ParleyWire.KeyRing
@_exported import struct ParleyWire.KeyEntry
@_exported import enum ParleyWire.KeyRole
