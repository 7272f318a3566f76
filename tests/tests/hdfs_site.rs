//! `hdfs_site_path` on the real stack: a job file's HdfsFile sink names a Hadoop
//! `hdfs-site.xml` (relative to the job file) that maps a name service to the stack's NameNode,
//! and writes to `hdfs://<name service>`. `weir submit` reads the file and sends its
//! properties in the job; the rows reach HDFS through the name service, and Hadoop's own
//! FsShell reads every one back.
//!
//! Needs the local stack (`deploy/local/stack up`).

use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::text;
use weir_e2e::stack::{list_recursive, read_files};

const ROWS: usize = 50;

#[test]
fn a_name_service_of_hdfs_site_path_reaches_the_stacks_namenode() {
    let url = weir_e2e::hdfs_url().unwrap_or_else(|missing| panic!("{missing}"));
    let namenode = url
        .trim_start_matches("hdfs://")
        .trim_end_matches('/')
        .to_string();
    let master = Master::start_default("hdfs-site");
    let _worker = Worker::start(&master, "w-hdfs-site", "1GiB");
    let base = format!("/weir-e2e/hdfs-site/{}", weir_e2e::unique_name("job"));
    write_file(
        master.dir(),
        "hdfs-site.xml",
        &format!(
            r#"<?xml version="1.0"?>
<configuration>
  <!-- One NameNode behind a name service, as an HA cluster's client settings name it. -->
  <property><name>dfs.nameservices</name><value>weirns</value></property>
  <property><name>dfs.ha.namenodes.weirns</name><value>nn1</value></property>
  <property><name>dfs.namenode.rpc-address.weirns.nn1</name><value>{namenode}</value></property>
  <property>
    <name>dfs.client.failover.proxy.provider.weirns</name>
    <value>org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider</value>
  </property>
</configuration>
"#
        ),
    );
    let job_file = write_file(
        master.dir(),
        "hdfs-site.conf",
        &format!(
            r#"env {{ job.mode = "BATCH" }}
source {{
  FakeSource {{
    row.num = {ROWS}
    schema = {{ fields {{ id = bigint, name = string }} }}
  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "hdfs://weirns"
    path = "{base}/out"
    tmp_path = "{base}/tmp"
    hdfs_site_path = "hdfs-site.xml"
    file_format_type = "text"
  }}
}}
"#
        ),
    );
    let job_id = master.submit(&job_file);
    let finished: Value = master.wait_until("the job finishes", Duration::from_secs(90), || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Finished" => Ok(job),
            "Failed" | "Cancelled" => Err(format!("the job ended: {job:#}")),
            other => Err(other.to_string()),
        }
    });
    let files: Vec<_> = list_recursive(&format!("{base}/out"))
        .unwrap_or_else(|error| master.fail(error))
        .into_iter()
        .filter(|entry| !entry.is_dir)
        .collect();
    let contents = read_files(&files).unwrap_or_else(|error| master.fail(error));
    let lines: usize = contents
        .iter()
        .map(|content| {
            String::from_utf8_lossy(content)
                .lines()
                .filter(|line| !line.is_empty())
                .count()
        })
        .sum();
    master.check(lines == ROWS, || {
        format!("{lines} rows under {base}/out on the stack's HDFS, expected {ROWS}: {finished:#}")
    });
    weir_e2e::stack::remove_recursive(&base);
}
