package meteo.bench;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.config.DefaultDriverOption;
import com.datastax.oss.driver.api.core.config.DriverConfigLoader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The independent Java client of scripts/bench-consume and scripts/bench-cluster (issue 22):
 * consumes a topic of meteo readings with kafka-clients, parses them with Jackson and writes
 * them to meteo's tables with the Apache Cassandra Java driver, doing the work `meteo consume`
 * does (see {@link Writer}), offsets committed only after their rows are written.
 *
 * <pre>
 * java -jar java-writer.jar run --topic T --keyspace K --group G
 *     [--warm-keyspace W --warm-readings N] [--in-flight 64] [--connections 1] [--groups 2]
 * java -jar java-writer.jar check-timestamps FILE   (lines: timestamp TAB json, from meteo)
 * </pre>
 *
 * Kafka from KAFKA_BROKERS, Cassandra from CASSANDRA_NODES (host:port, comma-separated). Prints
 * key=value lines on stdout for the script, progress on stderr; exits 1 on any error.
 */
public final class JavaWriter {
  /** Records per poll: one group of writes, as meteo groups a backlog (5,000 a group). */
  private static final int GROUP = 5_000;

  private JavaWriter() {}

  public static void main(String[] args) {
    // Before any logger exists: the clients' warnings only.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    try {
      if (args.length == 2 && args[0].equals("check-timestamps")) {
        checkTimestamps(Path.of(args[1]));
      } else if (args.length >= 1 && args[0].equals("run")) {
        run(options(args));
      } else {
        throw new IllegalArgumentException(
            "usage: java-writer run --topic T --keyspace K --group G [--warm-keyspace W"
                + " --warm-readings N] [--in-flight N] [--connections N] [--groups N]"
                + " | check-timestamps FILE");
      }
    } catch (Exception e) {
      System.err.println("java-writer: error: " + e);
      System.exit(1);
    }
    System.exit(0);
  }

  private static Map<String, String> options(String[] args) {
    Map<String, String> o = new HashMap<>();
    for (int i = 1; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("option " + args[i] + " needs a value");
      }
      o.put(args[i].substring(2), args[i + 1]);
    }
    for (String needed : List.of("topic", "keyspace", "group")) {
      if (!o.containsKey(needed)) {
        throw new IllegalArgumentException("--" + needed + " is missing");
      }
    }
    return o;
  }

  private static int number(Map<String, String> o, String name, int fallback) {
    String v = o.get(name);
    try {
      return v == null ? fallback : Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " is not a number: " + v);
    }
  }

  private static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  private static void run(Map<String, String> o) throws Exception {
    int inFlight = number(o, "in-flight", 64);
    int connections = number(o, "connections", 1);
    int groups = number(o, "groups", 2);
    try (CqlSession session = session(inFlight, connections)) {
      if (o.containsKey("warm-keyspace")) {
        int warm = number(o, "warm-readings", 20_000);
        Writer writer = new Writer(session, o.get("warm-keyspace"), inFlight);
        long[] took = consume(writer, o.get("topic"), o.get("group") + "_warm", warm, groups);
        System.err.printf(
            "java-writer: warm-up: %d readings in %.1f s, %d requests retried%n",
            took[0], took[1] / 1e9, writer.retries());
      }
      Writer writer = new Writer(session, o.get("keyspace"), inFlight);
      long[] took = consume(writer, o.get("topic"), o.get("group"), Long.MAX_VALUE, groups);
      double seconds = took[1] / 1e9;
      System.err.printf(
          "java-writer: %d readings in %.1f s, %d in flight, %d connection(s) per node,"
              + " %d requests retried%n",
          took[0], seconds, inFlight, connections, writer.retries());
      System.out.println("java_readings=" + took[0]);
      System.out.printf("java_seconds=%.3f%n", seconds);
      System.out.println("java_retries=" + writer.retries());
    }
  }

  private static CqlSession session(int inFlight, int connections) {
    DriverConfigLoader config =
        DriverConfigLoader.programmaticBuilder()
            // Token-aware like the default policy, with the local datacenter taken from the
            // contact points (the single node's and the cluster's differ).
            .withString(
                DefaultDriverOption.LOAD_BALANCING_POLICY_CLASS, "DcInferringLoadBalancingPolicy")
            // meteo's default write consistency (the driver's own is LOCAL_ONE).
            .withString(DefaultDriverOption.REQUEST_CONSISTENCY, "LOCAL_QUORUM")
            .withBoolean(DefaultDriverOption.REQUEST_DEFAULT_IDEMPOTENCE, true)
            .withDuration(DefaultDriverOption.REQUEST_TIMEOUT, Duration.ofSeconds(12))
            .withInt(DefaultDriverOption.CONNECTION_POOL_LOCAL_SIZE, connections)
            .withInt(DefaultDriverOption.CONNECTION_MAX_REQUESTS, Math.max(1024, 2 * inFlight))
            .build();
    var builder = CqlSession.builder().withConfigLoader(config);
    for (String node : env("CASSANDRA_NODES", "127.0.0.1:9042").split(",")) {
      int colon = node.lastIndexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException("CASSANDRA_NODES: " + node + " is not host:port");
      }
      builder.addContactPoint(
          new InetSocketAddress(node.substring(0, colon), Integer.parseInt(node.substring(colon + 1))));
    }
    return builder.build();
  }

  /** A group's offsets (the next to read, per partition) and its writes. */
  private record Group(Map<TopicPartition, OffsetAndMetadata> offsets, CompletableFuture<Void> written) {}

  /**
   * Consumes the topic from the start until its end as it was at the start (or {@code limit}
   * readings), writing each poll as one group, at most {@code maxGroups} groups in flight;
   * commits a group's offsets once it and every group before it are written. Returns the
   * readings written and the nanoseconds from the first write to the last acknowledgement.
   */
  private static long[] consume(Writer writer, String topic, String group, long limit, int maxGroups)
      throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BROKERS", "127.0.0.1:9092"));
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(GROUP));
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(8 << 20));
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " has no partitions");
      }
      for (PartitionInfo info : infos) {
        partitions.add(new TopicPartition(topic, info.partition()));
      }
      // Assigned, not subscribed: no group join to wait for; the commits go to the group.
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
      ArrayDeque<Group> inFlight = new ArrayDeque<>();
      long count = 0;
      long start = 0;
      while (count < limit && !reached(consumer, end)) {
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        if (records.isEmpty()) {
          continue;
        }
        List<Reading> readings = new ArrayList<>(records.count());
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
          if (count + readings.size() >= limit) {
            break;
          }
          readings.add(parse(record));
          offsets.put(
              new TopicPartition(record.topic(), record.partition()),
              new OffsetAndMetadata(record.offset() + 1));
        }
        if (start == 0) {
          start = System.nanoTime();
        }
        count += readings.size();
        inFlight.add(new Group(offsets, writer.writeGroup(readings)));
        while (inFlight.size() >= maxGroups) {
          Group done = inFlight.poll();
          done.written().join();
          consumer.commitAsync(done.offsets(), null);
        }
        while (!inFlight.isEmpty() && inFlight.peek().written().isDone()) {
          Group done = inFlight.poll();
          done.written().join();
          consumer.commitAsync(done.offsets(), null);
        }
      }
      for (Group done : inFlight) {
        done.written().join();
        consumer.commitAsync(done.offsets(), null);
      }
      long took = System.nanoTime() - start;
      consumer.commitSync(Duration.ofSeconds(30));
      return new long[] {count, took};
    }
  }

  private static boolean reached(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  private static Reading parse(ConsumerRecord<byte[], byte[]> record) throws Exception {
    String where = record.topic() + "/" + record.partition() + "@" + record.offset();
    Reading r;
    try {
      r = Reading.parse(record.value());
    } catch (Exception e) {
      throw new IllegalStateException("record " + where + " is not a reading: " + e.getMessage());
    }
    String key = record.key() == null ? "" : new String(record.key(), StandardCharsets.UTF_8);
    if (!key.equals(Long.toString(r.city_id))) {
      throw new IllegalStateException("record " + where + ": key is not its city id " + r.city_id);
    }
    return r;
  }

  /** Compares the port with timestamps meteo computed: lines of "timestamp TAB json". */
  private static void checkTimestamps(Path file) throws Exception {
    int checked = 0;
    for (String line : Files.readAllLines(file)) {
      int tab = line.indexOf('\t');
      if (tab < 0) {
        continue;
      }
      long expected = Long.parseLong(line.substring(0, tab));
      Reading r = Reading.parse(line.substring(tab + 1).getBytes(StandardCharsets.UTF_8));
      long got = Precedence.writeTimestamp(r);
      if (got != expected) {
        throw new IllegalStateException(
            file + " line " + (checked + 1) + ": meteo's timestamp " + expected + ", Java's " + got);
      }
      checked++;
    }
    if (checked == 0) {
      throw new IllegalStateException(file + " holds no timestamp to check");
    }
    System.out.println("timestamps_checked=" + checked);
  }
}
