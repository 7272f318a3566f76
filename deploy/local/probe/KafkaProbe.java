// Readiness probe for the Kafka broker started by deploy/local/stack.
//
// Usage: java -cp <kafka lib>/*:<classes> KafkaProbe <host:port> <timeout-seconds>
//            [<sasl host:port> <client.properties>]
//
// Polls, in this one JVM, until the broker answers real metadata requests
// (DescribeCluster + Metadata/ListTopics) with a live broker that advertises
// exactly <host:port>; with the optional pair, then also on a second listener
// with the client settings of that file (the stack's SASL_SSL listener: TLS
// handshake and SCRAM login included). Prints one line and exits 0 when ready;
// prints the last error and exits 1 on timeout, 2 when the broker answers with
// the wrong address (a configuration error that waiting will not fix).
import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.Collection;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.common.Node;

public final class KafkaProbe {
    public static void main(String[] args) throws Exception {
        if (args.length != 2 && args.length != 4) {
            System.err.println("usage: KafkaProbe <host:port> <timeout-seconds> [<sasl host:port> <client.properties>]");
            System.exit(64);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();
        String ready = probe(args[0], new Properties(), deadline);
        if (ready != null && args.length == 4) {
            Properties client = new Properties();
            try (InputStream in = new FileInputStream(args[3])) {
                client.load(in);
            }
            if (probe(args[2], client, deadline) == null) {
                ready = null;
            } else {
                ready += "; " + client.getProperty("security.protocol") + " ("
                        + client.getProperty("sasl.mechanism") + " login) at " + args[2] + " too";
            }
        }
        if (ready != null) {
            System.out.println(ready);
        }
        System.exit(ready == null ? code : 0);
    }

    private static int code = 1;

    // Polls the listener at `bootstrap` until it is ready or the deadline passes.
    // Returns what the ready line says about it, or null after printing why not
    // (the exit code is left in `code`).
    private static String probe(String bootstrap, Properties props, long deadline) throws Exception {
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "weir-stack-probe");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        props.put("retry.backoff.max.ms", "200");

        String last = "no answer yet";
        String ready = null;
        code = 1;
        Admin admin = Admin.create(props);
        try {
            while (System.nanoTime() < deadline) {
                try {
                    DescribeClusterResult cluster = admin.describeCluster();
                    Collection<Node> nodes = cluster.nodes().get();
                    String clusterId = cluster.clusterId().get();
                    Set<String> topics = admin.listTopics(new ListTopicsOptions().listInternal(true))
                            .names().get();
                    if (nodes.isEmpty()) {
                        last = "metadata lists no live broker yet";
                    } else {
                        Node node = nodes.iterator().next();
                        String advertised = node.host() + ":" + node.port();
                        if (!advertised.equals(bootstrap)) {
                            last = "broker advertises " + advertised + ", expected " + bootstrap;
                            code = 2;
                            break;
                        }
                        ready = "Kafka ready: cluster " + clusterId + ", broker " + node.id()
                                + " at " + advertised + ", " + topics.size() + " topic(s)";
                        code = 0;
                        break;
                    }
                } catch (ExecutionException e) {
                    last = String.valueOf(e.getCause());
                }
                Thread.sleep(200);
            }
        } finally {
            admin.close(Duration.ofMillis(500));
        }
        if (code != 0) {
            System.out.println("Kafka not ready at " + bootstrap + ": " + last);
            return null;
        }
        return ready;
    }
}
