// ConsoleHub and its clients: see console_hub.h.
#include "api/console_hub.h"

#include <fcntl.h>
#include <unistd.h>

#include <deque>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "api/unix_listener.h"
#include "base/error.h"
#include "base/log.h"
#include "base/timing.h"

namespace insula::api {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {
// A client that does not read is dropped rather than letting its queue grow.
constexpr size_t kMaxClientBacklog = 4 << 20;
}  // namespace

class ConsoleClient : public std::enable_shared_from_this<ConsoleClient> {
 public:
  ConsoleClient(local::socket sock, ConsoleHub& hub) : sock_(std::move(sock)), hub_(hub) {}

  void start() { read(); }
  void send(const std::string& bytes) {
    backlog_ += bytes.size();
    if (backlog_ > kMaxClientBacklog) return close();
    queue_.push_back(bytes);
    if (queue_.size() == 1) write();
  }
  void close() {
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

 private:
  void read() {
    sock_.async_read_some(asio::buffer(in_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) return self->hub_.client_gone(self);
      self->hub_.client_input(std::string(self->in_.data(), n));
      self->read();
    });
  }
  void write() {
    asio::async_write(sock_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) return;  // the read side notices and drops us
                        self->backlog_ -= self->queue_.front().size();
                        self->queue_.pop_front();
                        if (!self->queue_.empty()) self->write();
                      });
  }

  local::socket sock_;
  ConsoleHub& hub_;
  std::array<char, 4096> in_{};
  std::deque<std::string> queue_;
  size_t backlog_ = 0;
};

ConsoleHub::ConsoleHub(asio::io_context& io, const std::string& log_path, const std::string& socket_path)
    : io_(io), socket_path_(socket_path), retry_(io) {
  if (!log_path.empty()) {
    log_.reset(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log_) throw errno_error(fmt::format("cannot open the console log {}", log_path));
  }
  if (!socket_path.empty()) {
    acceptor_ = std::make_unique<local::acceptor>(listen_unix(io, socket_path));
    accept();
  }
}

ConsoleHub::~ConsoleHub() { close(); }

void ConsoleHub::close() {
  flush();  // what the guest wrote last still reaches the log and the clients
  if (acceptor_ && acceptor_->is_open()) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    ::unlink(socket_path_.c_str());
  }
  for (const auto& c : clients_) c->close();
  clients_.clear();
}

void ConsoleHub::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, local::socket sock) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto c = std::make_shared<ConsoleClient>(std::move(sock), *this);
      clients_.insert(c);
      c->start();
    }
    if (acceptor_->is_open()) accept();
  });
}

void ConsoleHub::guest_output(uint8_t byte) {
  ++bytes_out_;
  std::lock_guard lock(mu_);
  out_.push_back(static_cast<char>(byte));
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(io_, [this] { flush(); });
  }
}

void ConsoleHub::flush() {
  std::string bytes;
  {
    std::lock_guard lock(mu_);
    bytes.swap(out_);
    flush_posted_ = false;
  }
  if (log_) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(log_.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        INSULA_LOG_WARN("console log write failed: {}", strerror(errno));
        break;
      }
      done += n;
    }
  }
  for (const auto& c : clients_) c->send(bytes);
  if (!bytes.empty() && !first_output_marked_) {
    first_output_marked_ = true;
    timing::mark("console: first guest output written");
  }
}

void ConsoleHub::set_serial(Serial* serial) {
  serial_ = serial;
  if (serial_) feed_input();
}

void ConsoleHub::client_input(const std::string& bytes) {
  bytes_in_ += bytes.size();
  bool idle = pending_in_.empty();
  pending_in_ += bytes;
  if (idle) feed_input();
}

void ConsoleHub::client_gone(const std::shared_ptr<ConsoleClient>& c) {
  c->close();
  clients_.erase(c);
}

void ConsoleHub::feed_input() {
  if (!serial_ || pending_in_.empty()) return;
  size_t n = serial_->push_input(
      std::span(reinterpret_cast<const uint8_t*>(pending_in_.data()), pending_in_.size()));
  pending_in_.erase(0, n);
  if (pending_in_.empty()) return;
  // The UART's FIFO is full: try again when the guest has had time to read.
  retry_.expires_after(std::chrono::milliseconds(10));
  retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) feed_input();
  });
}

}  // namespace insula::api
