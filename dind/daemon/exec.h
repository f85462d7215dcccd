/* exec: Docker exec instances (POST /containers/{id}/exec, /exec/{id}/start|json|resize).
 * Prefix: exec_.
 *
 * An exec instance is created for a running container, started once, and kept (inspectable, with
 * its exit code) until its container is removed. Output policy, which every client relies on in
 * its own way (the CLI reads at once, k3d only after it has polled Running:false every second,
 * testcontainers runs three at a time): the daemon always keeps reading the process's stdout and
 * stderr, so a slow or absent reader never stalls the process nor the daemon. What the client has
 * not read yet is queued in the daemon, up to EXEC_OUTPUT_MAX bytes per exec on top of the
 * connection's own buffer (256 KiB high-water mark) and the kernel's socket buffer. Past that
 * bound, further output is dropped whole frames at a time (the process keeps running; a warning
 * with the number of bytes dropped is logged when the exec ends). The stream is closed once the
 * process has exited and everything queued was handed to the connection.
 */
#ifndef DINDD_EXEC_H
#define DINDD_EXEC_H

#define EXEC_OUTPUT_MAX (4u << 20)

/* The endpoints are dindd_area_exec (daemon.h): POST /containers/{id}/exec, POST
 * /exec/{id}/start, GET /exec/{id}/json, POST /exec/{id}/resize. */

#endif
