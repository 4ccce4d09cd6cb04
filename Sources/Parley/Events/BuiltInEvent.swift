/// The built-in event names of the original spec. Any other valid name (see ``EventBus/isValidEventName(_:)``)
/// works the same way; these are the ones the SDK itself raises.
public enum BuiltInEvent {
    /// A task (request) started being handled.
    public static let taskStart = "on_task_start"
    /// A task finished.
    public static let taskComplete = "on_task_complete"
    /// Something failed, including a handler of another event (see ``EventBus/onFailure(_:)``).
    /// Failures of `on_error` handlers themselves are not reported again, so errors cannot loop.
    public static let error = "on_error"
    /// An agent asks for help.
    public static let helpNeeded = "on_help_needed"
    /// A resource is running low.
    public static let resourceLow = "on_resource_low"
    /// A deadline will pass soon.
    public static let deadlineApproaching = "on_deadline_approaching"
}
