// Readiness probe for the HDFS NameNode + DataNode started by deploy/local/stack.
//
// Usage: java -cp <hdfs conf dir>:<hadoop lib>/*:<classes> HdfsProbe <hdfs://host:port> <datanode host:port> <timeout-seconds>
//
// Polls, in this one JVM, until the NameNode is out of safe mode, reports
// exactly one live DataNode whose data-transfer address is <datanode
// host:port> (the address clients such as hdfs-native are handed), and a
// small file can be written, read back identically and deleted. Prints one
// line and exits 0 when ready; prints the last error and exits 1 on timeout,
// 2 when the DataNode registered under the wrong address.
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.protocol.DatanodeInfo;
import org.apache.hadoop.hdfs.protocol.HdfsConstants.DatanodeReportType;

public final class HdfsProbe {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: HdfsProbe <hdfs://host:port> <datanode host:port> <timeout-seconds>");
            System.exit(64);
        }
        URI uri = URI.create(args[0]);
        String expectedDataNode = args[1];
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[2])).toNanos();

        Configuration conf = new HdfsConfiguration();
        // Fail fast and let this loop do the retrying.
        conf.setInt("ipc.client.connect.max.retries", 0);
        conf.setInt("ipc.client.connect.max.retries.on.timeouts", 0);
        conf.setInt("ipc.client.connect.timeout", 1000);
        conf.setBoolean("fs.hdfs.impl.disable.cache", true);

        String last = "no answer yet";
        int code = 1;
        while (System.nanoTime() < deadline) {
            try (FileSystem plain = FileSystem.get(uri, conf)) {
                DistributedFileSystem fs = (DistributedFileSystem) plain;
                if (fs.isInSafeMode()) {
                    last = "NameNode is in safe mode";
                } else {
                    DatanodeInfo[] live = fs.getDataNodeStats(DatanodeReportType.LIVE);
                    if (live.length == 0) {
                        last = "NameNode reports no live DataNode yet";
                    } else if (live.length > 1 || !live[0].getXferAddr().equals(expectedDataNode)) {
                        StringBuilder seen = new StringBuilder();
                        for (DatanodeInfo dn : live) {
                            seen.append(' ').append(dn.getXferAddr()).append(" (hostname ")
                                    .append(dn.getHostName()).append(')');
                        }
                        last = "live DataNode(s) registered as" + seen + ", expected exactly " + expectedDataNode;
                        code = 2;
                        break;
                    } else {
                        roundTrip(fs);
                        System.out.println("HDFS ready: " + uri + ", out of safe mode, 1 live DataNode at "
                                + live[0].getXferAddr() + " (hostname " + live[0].getHostName()
                                + "), write/read/delete round trip ok");
                        code = 0;
                        break;
                    }
                }
            } catch (IOException | RuntimeException e) {
                last = e.toString();
            }
            Thread.sleep(200);
        }
        if (code != 0) {
            System.out.println("HDFS not ready: " + last);
        }
        System.exit(code);
    }

    private static void roundTrip(DistributedFileSystem fs) throws IOException {
        Path path = new Path("/.weir-stack-probe-" + System.nanoTime());
        byte[] data = ("weir stack probe " + path.getName() + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            try (OutputStream out = fs.create(path, true)) {
                out.write(data);
            }
            byte[] back;
            try (InputStream in = fs.open(path)) {
                back = in.readAllBytes();
            }
            if (!Arrays.equals(data, back)) {
                throw new IOException("read back " + back.length + " bytes that differ from the "
                        + data.length + " written to " + path);
            }
        } finally {
            try {
                fs.delete(path, false);
            } catch (IOException ignored) {
                // The file is in a data directory wiped on the next `up`.
            }
        }
    }
}
