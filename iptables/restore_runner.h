// Thin client for iptables-restore/-save of one backend (nft or legacy) and family: no diff logic.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dataplane/model.h"
#include "dataplane/status.h"

namespace kproxy::iptables {

enum class XtablesBackend { kNft, kLegacy };

const char* backendName(XtablesBackend b);

struct RestoreFailure {
  int line = 0;            // 1-based line of the input the tool rejected, 0 when unknown
  std::string lineText;    // that line, for the log
  std::string toolOutput;  // what the tool said
};

// What the iptables backend needs from the kernel side; the seam for fault injection.
class RestoreClient {
 public:
  virtual ~RestoreClient() = default;
  // Loads restore input with --noflush. Tables commit one by one, each atomically.
  virtual Status restore(std::string_view input) = 0;
  // iptables-save -t TABLE.
  virtual Result<std::string> save(std::string_view table) = 0;
  virtual std::string describe() const = 0;
  // Service ports per restore in a full sync; 0 loads it in one piece.
  virtual size_t fullSyncChunkPorts() const { return 0; }
  // Whether TABLE holds CHAIN (the canaries); by default from save(), which a large nat table
  // makes slow: the runner asks for the one chain.
  virtual Result<bool> chainExists(std::string_view table, std::string_view chain);
};

class RestoreRunner : public RestoreClient {
 public:
  RestoreRunner(XtablesBackend backend, model::IPFamily family);

  // iptables-restore --noflush --counters -w: changes only the chains the input names, waits
  // for the xtables lock instead of failing. On failure the failing table was not changed and
  // the error names the rejected line.
  Status restore(std::string_view input) override;
  Result<std::string> save(std::string_view table) override;
  std::string describe() const override { return restore_; }
  // iptables-nft's --noflush restore slows super-linearly with input size (see README); legacy
  // rewrites the whole table on every restore, so one piece is cheapest there.
  size_t fullSyncChunkPorts() const override { return backend_ == XtablesBackend::kNft ? 100 : 0; }
  // iptables -w -t TABLE -S CHAIN: the one chain, not the table.
  Result<bool> chainExists(std::string_view table, std::string_view chain) override;

  // Chain names of one table, parsed from iptables-save.
  Result<std::vector<std::string>> listChains(std::string_view table);

  const std::string& restoreProgram() const { return restore_; }

  // Parses "Error occurred at line: N" from the tool's stderr (0 when absent).
  static int failedLine(std::string_view toolOutput);

 private:
  XtablesBackend backend_;
  std::string restore_, save_, tool_;
  int lockWaitSeconds_ = 5;
};

// The chain names declared in iptables-save output.
std::vector<std::string> chainsInSave(std::string_view saveText);

// kube-proxy's (iptables-wrapper's) rule: use the backend that already holds kube rules, or
// more rules overall; nft when neither holds anything.
XtablesBackend detectBackend(model::IPFamily family);

}  // namespace kproxy::iptables
