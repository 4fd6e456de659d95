/**
 * A stand-in ingress instance process for the balancer's tests: it serves the connections the
 * balancer hands it over IPC by greeting with its name (argv[2]), then echoing.
 */
import net from "node:net";
import { receiveHandedConnections } from "../../local/ingress-balancer";

const name = process.argv[2] ?? "?";
const server = net.createServer((socket) => {
  socket.write(name);
  socket.pipe(socket);
});
receiveHandedConnections(Promise.resolve(server));
process.send?.({ ready: name });
