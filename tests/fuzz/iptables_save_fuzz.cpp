// `iptables-save` output as kproxy trace reads it, then a packet walked through it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "trace/iptables_eval.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kproxy;
  trace::IptDump dump = trace::parseIptablesSave(std::string(reinterpret_cast<const char*>(data), size));
  trace::Packet p;
  p.src = *net::parseIP("10.244.1.2");
  p.dst = *net::parseIP("10.96.0.10");
  p.dport = 80;
  p.localAddresses = {*net::parseIP("10.200.0.1")};
  for (bool local : {true, false}) {
    p.fromLocal = local;
    (void)trace::evaluate(dump, p);
  }
  return 0;
}
