// ConsoleHub: where a VMM's guest console goes and comes from. Every byte
// the guest writes is appended to the console log and sent to each attached
// console client (unix socket next to the API socket); what clients send is
// fed to the guest's UART. Guest output arrives on vCPU threads and is
// batched onto the io_context's thread, so a vCPU never blocks on a client.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/fd.h"
#include "devices/legacy/serial.h"

namespace insula::api {

class ConsoleClient;

class ConsoleHub {
 public:
  // log_path may be empty (no log); socket_path may be empty (no clients).
  ConsoleHub(boost::asio::io_context& io, const std::string& log_path, const std::string& socket_path);
  ~ConsoleHub();

  void guest_output(uint8_t byte);  // any thread
  void set_serial(Serial* serial);  // io thread; null when the machine is gone
  void close();                     // stops accepting, drops clients
  // io thread: what the guest wrote so far goes to the log and the clients
  // now (a paused VM's log is whole when the pause request is answered).
  void flush();

  uint64_t bytes_out() const { return bytes_out_; }
  uint64_t bytes_in() const { return bytes_in_; }
  size_t clients() const { return clients_.size(); }

  // Used by ConsoleClient.
  void client_input(const std::string& bytes);
  void client_gone(const std::shared_ptr<ConsoleClient>& c);

 private:
  void accept();
  void feed_input();

  boost::asio::io_context& io_;
  UniqueFd log_;
  std::string socket_path_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::set<std::shared_ptr<ConsoleClient>> clients_;

  std::mutex mu_;  // guards out_ and flush_posted_ (vCPU threads write)
  std::string out_;
  bool flush_posted_ = false;
  bool first_output_marked_ = false;  // for INSULA_TIMING (io thread only)
  std::atomic<uint64_t> bytes_out_{0};
  uint64_t bytes_in_ = 0;

  Serial* serial_ = nullptr;
  std::string pending_in_;  // bytes the UART could not take yet
  boost::asio::steady_timer retry_;
};

}  // namespace insula::api
