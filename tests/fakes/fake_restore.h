// A stateful in-memory iptables for unit tests: applies restore text with --noflush semantics
// and rejects what the kernel rejects (jumps to missing chains, deleting a referenced or
// built-in chain, -D of a missing rule), all-or-nothing per table. Plus a fault injector.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "iptables/restore_runner.h"

namespace kproxy::testing {

class FakeRestore : public iptables::RestoreClient {
 public:
  FakeRestore();
  Status restore(std::string_view input) override;
  Result<std::string> save(std::string_view table) override;
  std::string describe() const override { return "fake-restore"; }
  size_t fullSyncChunkPorts() const override { return chunkPorts; }
  size_t chunkPorts = 0;

  // table -> chain -> rules ("-A CHAIN ..." lines as written)
  std::map<std::string, std::map<std::string, std::vector<std::string>>> tables;
  int restores = 0;
  std::string lastInput;
  // When set, the next restores fail with this message (and change nothing).
  int failNext = 0;
};

}  // namespace kproxy::testing
