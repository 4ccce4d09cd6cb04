// The SDK speaks in the protocol's own vocabulary: Target, Status, RequestKind, CallbackID.
@_exported import ParleyWire
