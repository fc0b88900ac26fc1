// The standard process_* metrics (as Prometheus' Go client exports them for kube-proxy), read
// from /proc at scrape time.
#pragma once

#include "daemon/metrics.h"

namespace kproxy::daemon {

// Registers the process_* families in `m` (once).
void describeProcessMetrics(Metrics& m);
// Sets them from /proc/self now; a file that cannot be read leaves its metric as it was.
void updateProcessMetrics(Metrics& m);

}  // namespace kproxy::daemon
