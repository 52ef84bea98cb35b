// Device memory (HBM or GDDR): independent channels, each a first-come-first-served server.
//
// A channel moves bytes at pin bandwidth x bus_efficiency (command, activation and ECC
// overheads), stops for a refresh window of refresh_overhead x refresh_interval once per
// interval (windows staggered across channels), and pays a bus turnaround whenever it switches
// between reads and writes. Data is ready `latency` after its transfer, so a lone read costs
// latency + bytes / channel bandwidth and many reads in flight approach the channel bandwidth
// minus those overheads: peak is not reached for free.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "sim/config.hpp"
#include "sim/time.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct DramSpec {
  std::string impl = "channels";  // which DramModel (dram_impls())
  std::string kind;
  ByteSize capacity;
  uint32_t stacks = 0;
  uint32_t channels_per_stack = 0;
  Bandwidth bandwidth;          // peak pin bandwidth, whole chip
  Duration latency;             // controller + array access, unloaded
  double refresh_overhead = 0;  // fraction of time a channel is refreshing
  Duration refresh_interval;    // one refresh window per interval, staggered across channels
  double bus_efficiency = 1;    // fraction of pin bandwidth left after command/row overheads
  Duration turnaround;          // read <-> write bus turnaround
  ByteSize access;              // bytes per channel access (burst)
  [[nodiscard]] uint32_t channels() const { return stacks * channels_per_stack; }
  void read(ConfigReader& r);
};

/// Device memory as the memory path sees it: channels that serve transfers. Implementations are
/// chosen by `hbm.impl`; a bank-level model is a new file pair registered in dram_impls().
class DramModel {
 public:
  virtual ~DramModel() = default;
  /// Serves `bytes` on `channel` starting no earlier than `ready`; returns when the transfer
  /// ends (the data is ready latency() later).
  virtual Tick serve(uint32_t channel, Tick ready, uint64_t bytes, bool write) = 0;
  [[nodiscard]] virtual Tick latency() const = 0;
  [[nodiscard]] virtual uint32_t channels() const = 0;
  /// Bytes a channel moves to transfer `bytes` of one request: whole accesses (bursts).
  [[nodiscard]] virtual uint64_t moved(uint64_t bytes) const = 0;
  /// Busy time summed over the channels.
  [[nodiscard]] virtual Tick busy() const = 0;
};

struct DramImpl {
  std::string_view name;
  std::string_view doc;
  std::function<std::unique_ptr<DramModel>(const DramSpec&)> make;
};
const std::vector<DramImpl>& dram_impls();

class DramChannel {
 public:
  DramChannel(uint64_t bytes_per_s, Tick turnaround, Tick refresh_interval, Tick refresh_time,
              Tick refresh_phase);

  /// Serves `bytes` starting no earlier than `ready`; returns when the transfer ends.
  Tick serve(Tick ready, uint64_t bytes, bool write);

  [[nodiscard]] uint64_t read_bytes() const { return read_bytes_; }
  [[nodiscard]] uint64_t write_bytes() const { return write_bytes_; }
  [[nodiscard]] Tick busy() const { return busy_; }

 private:
  Tick skip_refresh(Tick start, Tick service) const;

  uint64_t bytes_per_s_;
  Tick turnaround_;
  Tick refresh_interval_;
  Tick refresh_time_;
  Tick refresh_phase_;
  Tick next_free_{0};
  bool last_write_ = false;
  uint64_t read_bytes_ = 0;
  uint64_t write_bytes_ = 0;
  Tick busy_{0};
};

/// `hbm.impl = "channels"`: independent first-come-first-served channels.
class Dram : public DramModel {
 public:
  explicit Dram(const DramSpec& spec);
  Tick serve(uint32_t channel, Tick ready, uint64_t bytes, bool write) override {
    return channels_[channel].serve(ready, bytes, write);
  }
  [[nodiscard]] uint32_t channels() const override { return static_cast<uint32_t>(channels_.size()); }
  [[nodiscard]] Tick busy() const override;
  DramChannel& channel(size_t i) { return channels_[i]; }
  [[nodiscard]] const DramChannel& channel(size_t i) const { return channels_[i]; }
  [[nodiscard]] Tick latency() const override { return latency_; }
  [[nodiscard]] uint64_t moved(uint64_t bytes) const override {
    return (bytes + access_ - 1) / access_ * access_;
  }
  /// Effective bandwidth of one channel (pin x bus efficiency), bytes/s.
  [[nodiscard]] uint64_t channel_bytes_per_s() const { return channel_bps_; }

 private:
  std::vector<DramChannel> channels_;
  Tick latency_;
  uint64_t access_;
  uint64_t channel_bps_;
};

}  // namespace bwsim
