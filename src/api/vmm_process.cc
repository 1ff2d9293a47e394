// run_vmm_process: wires the console, the VM service, the router and the
// HTTP server onto one io_context.
#include "api/vmm_process.h"

#include <signal.h>
#include <unistd.h>

#include <functional>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "api/console_hub.h"
#include "api/endpoints.h"
#include "api/http_server.h"
#include "api/vmm_service.h"
#include "base/log.h"
#include "base/timing.h"

namespace insula::api {

int run_vmm_process(const VmmProcessOptions& opts) {
  ::signal(SIGPIPE, SIG_IGN);
  boost::asio::io_context io;
  std::string console_socket = opts.console_socket.empty() ? opts.api_socket + ".console" : opts.console_socket;
  ConsoleHub console(io, opts.log_path, console_socket);
  std::optional<HttpServer> server;
  const HttpServer* server_view = nullptr;
  VmmService vm(io, opts.id, console, [&] {
    if (server) server->close();
    console.close();
    // Let responses already queued (the 204 of /shutdown) go out first.
    boost::asio::post(io, [&io] { io.stop(); });
  }, opts.memory_hint);

  Router router;
  add_instance_info_routes(router, vm);
  add_boot_source_routes(router, vm);
  add_machine_config_routes(router, vm);
  add_actions_routes(router, vm);
  add_vm_state_routes(router, vm);
  add_metrics_routes(router, vm, console, server_view);
  add_shutdown_routes(router, vm);
  add_snapshot_routes(router, vm);
  add_drives_routes(router, vm);
  add_network_interfaces_routes(router, vm);
  add_vsock_routes(router, vm);
  add_balloon_routes(router, vm, io);
  add_vm_config_routes(router, vm);
  server.emplace(io, opts.api_socket, router);
  server_view = &*server;
  if (opts.ready_fd >= 0) {
    char ready = 'R';
    [[maybe_unused]] ssize_t n = ::write(opts.ready_fd, &ready, 1);
    ::close(opts.ready_fd);
  }

  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  signals.async_wait([&vm](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    INSULA_LOG_INFO("signal {}: shutting down", sig);
    vm.shutdown();
  });
  // SIGUSR2: the devices' state into the log (as `insula run`), every time.
  boost::asio::signal_set dump(io, SIGUSR2);
  std::function<void()> wait_dump = [&] {
    dump.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (vmm::Machine* m = vm.running_machine()) m->log_device_state();
      wait_dump();
    });
  };
  wait_dump();

  INSULA_LOG_INFO("VMM {} serving {}", opts.id, opts.api_socket);
  timing::mark("api ready");
  io.run();
  const auto& exit = vm.last_exit();
  if (!exit || exit->kind == vmm::MachineExit::Kind::kPowerOff) return 0;
  if (exit->kind == vmm::MachineExit::Kind::kError) INSULA_LOG_ERROR("VM {}: {}", opts.id, exit->message);
  return vmm::exit_status(*exit);
}

}  // namespace insula::api
