// Shows that ThreadSanitizer cannot see Synchronization.Mutex on Linux (see tsan-suppressions.txt):
//   swiftc -sanitize=thread fuzz/sanitizers/MutexFalsePositive.swift -o /tmp/mutex-tsan && /tmp/mutex-tsan
// prints 40000 (no append lost: the lock works) after "WARNING: ThreadSanitizer: Swift access race" reports.
import Foundation
import Synchronization

final class Box: Sendable { let values = Mutex<[Int]>([]) }
let box = Box()
let threads = (0..<2).map { _ in Thread { for value in 0..<20_000 { box.values.withLock { $0.append(value) } } } }
threads.forEach { $0.start() }
while box.values.withLock({ $0.count }) < 40_000 { Thread.sleep(forTimeInterval: 0.01) }
print(box.values.withLock { $0.count })
