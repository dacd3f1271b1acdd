package org.jettyitk.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * <p>The benchmark's command line, as {@code bench/run.sh} passes it on.</p>
 */
public final class BenchOptions
{
    public static final String USAGE = """
        usage: bench/run.sh [options]          (as root: the workers run as numeric uids)
          --quick                 ~1 s runs: --duration 1 --warmup 1 --rounds 2 --cold-samples 3 --vhosts 10
          --rounds N              rounds, alternating plain Jetty and jetty-itk (default 3)
          --duration S            seconds per load run (default 10)
          --warmup S              seconds of unrecorded load per workload and server before the rounds (default 10)
          --workloads A,B         workload ids (default all): %s
          --connections N         wrk connections (default 16)
          --threads N             wrk threads (default 2)
          --cold-samples N        cold starts timed against plain Jetty starts, alternating (default 5)
          --vhosts N              idle vhosts hit once for the memory total (default 50, uids 42001..)
          --no-cold-memory        skip the cold-start and 50-vhost memory phase
          --profile               record JFR CPU profiles of the front, a worker and plain Jetty
          --server-jvm-options S  JVM options of the plain Jetty and front JVMs (default: none, the JVM's defaults)
          --worker-jvm-options S  JVM options of the workers (default: jetty-itk's defaults)
          --front-user UID        run the front as this numeric uid and gid after start (jetty.itk.frontUser),
                                  its workers spawned by the root spawner (default: the front keeps root)
          --results DIR           where runs/<time>/ and the latest summary go (default bench/results)
          --no-chart              do not draw the PNG chart
          --settle-ms N           quiet time before each idle-memory sample and timed start (default 6000)
        """;

    public int rounds = 3;
    public int duration = 10;
    public int warmup = 10;
    public List<Workload> workloads = List.of(Workload.values());
    public int connections = 16;
    public int threads = 2;
    public int coldSamples = 5;
    public int vhosts = 50;
    public boolean coldAndMemory = true;
    public boolean profile;
    public List<String> serverJvmOptions = List.of();
    public String workerJvmOptions;
    public String frontUser;
    public Path results = Path.of("bench/results");
    public boolean chart = true;
    public long settleMillis = 6000;
    public boolean quick;

    public static BenchOptions parse(String[] args)
    {
        BenchOptions options = new BenchOptions();
        for (int i = 0; i < args.length; i++)
        {
            String arg = args[i];
            switch (arg)
            {
                case "--quick" ->
                {
                    options.quick = true;
                    options.duration = 1;
                    options.warmup = 1;
                    options.rounds = 2;
                    options.coldSamples = 3;
                    options.vhosts = 10;
                }
                case "--rounds" -> options.rounds = positive(arg, value(args, ++i, arg));
                case "--duration" -> options.duration = positive(arg, value(args, ++i, arg));
                case "--warmup" -> options.warmup = Integer.parseInt(value(args, ++i, arg));
                case "--workloads" ->
                {
                    List<Workload> list = new ArrayList<>();
                    for (String id : value(args, ++i, arg).split(","))
                    {
                        list.add(Workload.fromId(id.trim()));
                    }
                    options.workloads = list;
                }
                case "--connections" -> options.connections = positive(arg, value(args, ++i, arg));
                case "--threads" -> options.threads = positive(arg, value(args, ++i, arg));
                case "--cold-samples" -> options.coldSamples = Integer.parseInt(value(args, ++i, arg));
                case "--vhosts" -> options.vhosts = positive(arg, value(args, ++i, arg));
                case "--no-cold-memory" -> options.coldAndMemory = false;
                case "--profile" -> options.profile = true;
                case "--server-jvm-options" ->
                {
                    String value = value(args, ++i, arg).trim();
                    options.serverJvmOptions = value.isEmpty() ? List.of() : Arrays.asList(value.split("\\s+"));
                }
                case "--worker-jvm-options" -> options.workerJvmOptions = value(args, ++i, arg);
                case "--front-user" -> options.frontUser = Integer.toString(positive(arg, value(args, ++i, arg)));
                case "--results" -> options.results = Path.of(value(args, ++i, arg));
                case "--no-chart" -> options.chart = false;
                case "--settle-ms" -> options.settleMillis = Long.parseLong(value(args, ++i, arg));
                case "-h", "--help" -> throw new IllegalArgumentException("");
                default -> throw new IllegalArgumentException("unknown option " + arg);
            }
        }
        if (options.coldSamples > options.vhosts)
            throw new IllegalArgumentException("--cold-samples " + options.coldSamples + " > --vhosts " + options.vhosts);
        if (options.threads > options.connections)
            throw new IllegalArgumentException("--threads " + options.threads + " > --connections " + options.connections);
        return options;
    }

    public static String usage()
    {
        return USAGE.formatted(String.join(",", Arrays.stream(Workload.values()).map(w -> w.id).toList()));
    }

    private static String value(String[] args, int i, String option)
    {
        if (i >= args.length)
            throw new IllegalArgumentException(option + " needs a value");
        return args[i];
    }

    private static int positive(String option, String value)
    {
        int n = Integer.parseInt(value);
        if (n < 1)
            throw new IllegalArgumentException(option + " must be >= 1: " + n);
        return n;
    }
}
