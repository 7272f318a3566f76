// Readiness probe for the Kafka broker started by deploy/local/stack.
//
// Usage: java -cp <kafka lib>/*:<classes> KafkaProbe <host:port> <timeout-seconds>
//
// Polls, in this one JVM, until the broker answers real metadata requests
// (DescribeCluster + Metadata/ListTopics) with a live broker that advertises
// exactly <host:port>. Prints one line and exits 0 when ready; prints the last
// error and exits 1 on timeout, 2 when the broker answers with the wrong
// address (a configuration error that waiting will not fix).
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
        if (args.length != 2) {
            System.err.println("usage: KafkaProbe <host:port> <timeout-seconds>");
            System.exit(64);
        }
        String bootstrap = args[0];
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();

        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "weir-stack-probe");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        props.put("retry.backoff.max.ms", "200");

        String last = "no answer yet";
        int code = 1;
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
                        System.out.println("Kafka ready: cluster " + clusterId + ", broker " + node.id()
                                + " at " + advertised + ", " + topics.size() + " topic(s)");
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
            System.out.println("Kafka not ready: " + last);
        }
        System.exit(code);
    }
}
