#include "nftables/netlink_client.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "nftables/netlink_answers.h"
#include "nftables/netlink_codec.h"

namespace kproxy::nftables {

namespace {

constexpr int kAnswerTimeoutMs = 30000;  // a large batch takes seconds to apply

uint8_t nfproto(IPFamily f) { return f == IPFamily::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6; }

}  // namespace

NetlinkNftClient::NetlinkNftClient() = default;

NetlinkNftClient::~NetlinkNftClient() {
  if (nl_) mnl_socket_close(nl_);
}

Status NetlinkNftClient::open() {
  if (nl_) return Status::ok();
  nl_ = mnl_socket_open(NETLINK_NETFILTER);
  if (!nl_) return Status::error(std::string("netlink socket: ") + std::strerror(errno));
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    std::string e = std::strerror(errno);
    mnl_socket_close(nl_);
    nl_ = nullptr;
    return Status::error("netlink bind: " + e);
  }
  portid_ = mnl_socket_get_portid(nl_);
  int one = 1;
  mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &one, sizeof one);
  int rcv = 8 << 20;
  ::setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
  seq_ = static_cast<uint32_t>(::time(nullptr)) << 8;
  return Status::ok();
}

namespace {

// Keeps copies of each op's objects (stable addresses) and commits them as one Transaction.
class CopyingTxStream : public TxStream {
 public:
  CopyingTxStream(NftClient& client, IPFamily family, std::optional<uint32_t> generation) : client_(client) {
    tx_.family = family;
    tx_.generation = generation;
  }
  void add(const Op& op) override {
    Op o = op;
    if (op.chain) o.chain = &chains_.emplace_back(*op.chain);
    if (op.rule) o.rule = &rules_.emplace_back(*op.rule);
    if (op.set) o.set = &sets_.emplace_back(*op.set);
    for (auto& e : o.elements) e = &elements_.emplace_back(*e);
    tx_.ops.push_back(std::move(o));
  }
  CommitResult commit() override { return client_.commit(tx_); }

 private:
  NftClient& client_;
  Transaction tx_;
  std::deque<Chain> chains_;
  std::deque<Rule> rules_;
  std::deque<Set> sets_;
  std::deque<Element> elements_;
};

// Encodes each op as it comes; only the batch's bytes and a note per op are kept.
class EncodingTxStream : public TxStream {
 public:
  EncodingTxStream(std::function<CommitResult(EncodedBatch&, const BatchWriter&)> send, IPFamily family,
                   std::optional<uint32_t> generation, uint32_t firstSeq)
      : send_(std::move(send)), writer_(family, generation, firstSeq) {}
  void add(const Op& op) override {
    writer_.add(op);
    ++ops_;
  }
  CommitResult commit() override {
    EncodedBatch batch = writer_.finish();
    if (ops_ == 0) {
      CommitResult r;
      r.ok = true;
      return r;
    }
    return send_(batch, writer_);
  }

 private:
  std::function<CommitResult(EncodedBatch&, const BatchWriter&)> send_;
  BatchWriter writer_;
  size_t ops_ = 0;
};

}  // namespace

std::unique_ptr<TxStream> NftClient::begin(IPFamily family, std::optional<uint32_t> generation) {
  return std::make_unique<CopyingTxStream>(*this, family, generation);
}

std::unique_ptr<TxStream> NetlinkNftClient::begin(IPFamily family, std::optional<uint32_t> generation) {
  // The socket first: opening it sets where the sequence numbers start. A failure shows at commit.
  (void)open();
  uint32_t first = seq_;
  return std::make_unique<EncodingTxStream>(
      [this](EncodedBatch& batch, const BatchWriter& writer) {
        seq_ = batch.endSeq + 1;
        return send(batch, [&](uint32_t seq) { return writer.describe(batch, seq); });
      },
      family, generation, first);
}

CommitResult NetlinkNftClient::commit(const Transaction& tx) {
  if (tx.empty()) {
    CommitResult r;
    r.ok = true;
    return r;
  }
  if (Status st = open(); !st) {
    CommitResult r;
    r.error = st.message();
    return r;
  }
  EncodedBatch batch = encodeTransaction(tx, seq_);
  seq_ = batch.endSeq + 1;
  return send(batch, [&](uint32_t seq) { return batch.describe(tx, seq); });
}

CommitResult NetlinkNftClient::send(EncodedBatch& batch, const std::function<std::string(uint32_t seq)>& describe) {
  CommitResult r;
  if (Status st = open(); !st) {
    r.error = st.message();
    return r;
  }
  r.bytes = batch.size();
  r.messages = batch.messages;
  // One sendmsg carries the whole batch (the kernel applies what one message holds), its
  // pieces gathered from an iovec each.
  if (r.bytes + 65536 > sndbuf_) {
    int want = static_cast<int>(r.bytes + 65536);
    ::setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want);
    sndbuf_ = static_cast<size_t>(want);
  }
  std::vector<iovec> iov;
  for (auto& c : batch.chunks) iov.push_back({c.data(), c.size()});
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  if (::sendmsg(mnl_socket_get_fd(nl_), &msg, 0) < 0) {
    r.error = std::string("sending the netlink batch (") + std::to_string(r.bytes) + " bytes): " + std::strerror(errno);
    return r;
  }
  std::vector<char> buf(1 << 16);
  BatchAnswer answer;
  bool done = false;
  while (!done) {
    pollfd pfd{mnl_socket_get_fd(nl_), POLLIN, 0};
    int ready = ::poll(&pfd, 1, kAnswerTimeoutMs);
    if (ready <= 0) {
      r.error = "no answer from the kernel to the netlink batch";
      return r;
    }
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) {
      r.error = std::string("reading the kernel's answer: ") + std::strerror(errno);
      return r;
    }
    readBatchAnswer(buf.data(), static_cast<size_t>(n), batch, describe, answer);
    done = answer.done;
  }
  r.generationChanged = answer.generationChanged;
  r.error = answer.error;
  r.ok = r.error.empty();
  return r;
}

namespace {

// Sends one request and feeds every answer message to `each` until the kernel is done.
Status request(mnl_socket* nl, uint32_t portid, nlmsghdr* nlh, uint32_t seq,
               const std::function<void(const nlmsghdr*)>& each, bool* notFound = nullptr) {
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return Status::error(std::strerror(errno));
  std::vector<char> buf(1 << 16);
  while (true) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) return Status::error(std::strerror(errno));
    if (!wellFormed(buf.data(), static_cast<size_t>(n)))
      return Status::error("a malformed netlink answer (" + std::to_string(n) + " bytes)");
    int ret = mnl_cb_run(
        buf.data(), static_cast<size_t>(n), seq, portid,
        [](const nlmsghdr* m, void* data) -> int {
          (*static_cast<const std::function<void(const nlmsghdr*)>*>(data))(m);
          return MNL_CB_OK;
        },
        const_cast<std::function<void(const nlmsghdr*)>*>(&each));
    if (ret < 0) {
      if (errno == ENOENT && notFound) {
        *notFound = true;
        return Status::ok();
      }
      return Status::error(std::strerror(errno));
    }
    if (ret == MNL_CB_STOP) return Status::ok();
  }
}

}  // namespace

Result<uint32_t> NetlinkNftClient::generation() {
  if (Status st = open(); !st) return st;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  uint32_t seq = nextSeq(1);
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, seq);
  std::optional<uint32_t> gen;
  Status st = request(nl_, portid_, nlh, seq, [&](const nlmsghdr* m) {
    if (auto g = generationOf(m)) gen = g;
  });
  if (!st) return Status::error("reading the ruleset generation: " + st.message());
  if (!gen) return Status::error("reading the ruleset generation: no answer");
  return *gen;
}

Result<TableListing> NetlinkNftClient::list(IPFamily family) {
  if (Status st = open(); !st) return st;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto genBefore = generation();
    if (!genBefore) return genBefore.status();
    TableListing out;
    out.generation = genBefore.value();
    char buf[MNL_SOCKET_BUFFER_SIZE];

    // Does the table exist?
    {
      uint32_t seq = nextSeq(1);
      nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, nfproto(family), NLM_F_ACK, seq);
      nftnl_table* t = nftnl_table_alloc();
      nftnl_table_set_str(t, NFTNL_TABLE_NAME, kTableName);
      nftnl_table_nlmsg_build_payload(nlh, t);
      nftnl_table_free(t);
      bool missing = false;
      if (Status st = request(nl_, portid_, nlh, seq, [](const nlmsghdr*) {}, &missing); !st)
        return Status::error("listing table " + std::string(kTableName) + ": " + st.message());
      out.exists = !missing;
    }
    if (out.exists) {
      uint32_t seq = nextSeq(1);
      nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, nfproto(family), NLM_F_DUMP, seq);
      nftnl_chain* c = nftnl_chain_alloc();
      nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, kTableName);
      nftnl_chain_nlmsg_build_payload(nlh, c);
      nftnl_chain_free(c);
      Status st = request(nl_, portid_, nlh, seq, [&](const nlmsghdr* m) {
        if (auto name = listedChain(m)) out.chains.push_back(std::move(*name));
      });
      if (!st) return Status::error("listing chains: " + st.message());

      seq = nextSeq(1);
      nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, nfproto(family), NLM_F_DUMP, seq);
      nftnl_set* s = nftnl_set_alloc();
      nftnl_set_set_str(s, NFTNL_SET_TABLE, kTableName);
      nftnl_set_nlmsg_build_payload(nlh, s);
      nftnl_set_free(s);
      st = request(nl_, portid_, nlh, seq, [&](const nlmsghdr* m) {
        if (auto name = listedSet(m)) out.sets.push_back(std::move(*name));
      });
      if (!st) return Status::error("listing sets: " + st.message());
    }
    auto genAfter = generation();
    if (!genAfter) return genAfter.status();
    if (genAfter.value() == out.generation) return out;  // a consistent picture
  }
  return Status::error("listing table " + std::string(kTableName) + ": the ruleset kept changing while it was read");
}

}  // namespace kproxy::nftables
