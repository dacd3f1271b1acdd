package org.jettyitk.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jettyitk.bench.LoadTools.Measurement;
import org.jettyitk.bench.ProcStats.Cpu;
import org.jettyitk.bench.ProcStats.Memory;

/**
 * <p>Everything one benchmark run measured, and its medians. {@link Report} turns it into text.</p>
 */
public final class Results
{
    public static final String PLAIN = "plain";
    public static final String ITK = "itk";
    /** The targets, as ratios jetty-itk / plain Jetty measured in one run. */
    public static final double TARGET_TINY_KA = 0.5;
    public static final double TARGET_PAGE_KA = 0.8;
    public static final double TARGET_COLD_START = 1.5;
    public static final double TARGET_IDLE_WORKER_PSS_MB = 60;

    /**
     * One load run of one server.
     *
     * @param cpu CPU time of the server during the run: plain Jetty, or the front
     * @param workerCpu CPU time of the worker during the run ({@link Cpu#NONE} for plain Jetty)
     * @param busy memory in the middle of the run, if sampled: plain Jetty or the front
     * @param workerBusy memory of the worker in the middle of the run, if sampled
     */
    public record Run(int round, Workload workload, String config, Measurement measurement, Cpu cpu,
                      Cpu workerCpu, Memory busy, Memory workerBusy)
    {
        public double cpuMicrosPerRequest()
        {
            return perRequest(cpu.totalMs() + workerCpu.totalMs());
        }

        public double perRequest(long millis)
        {
            long requests = measurement.requests();
            return requests == 0 ? Double.NaN : millis * 1000.0 / requests;
        }
    }

    public final Map<String, String> environment = new LinkedHashMap<>();
    public final List<Run> runs = new ArrayList<>();
    /** Memory samples by name: "plain idle", "front busy", ... */
    public final Map<String, Memory> memory = new LinkedHashMap<>();
    public final List<Memory> idleWorkers = new ArrayList<>();
    public final List<Double> plainStartMillis = new ArrayList<>();
    public final List<Double> plainStartWorkerFlagsMillis = new ArrayList<>();
    public final List<Double> coldStartMillis = new ArrayList<>();
    /** First-request times of every vhost of the memory phase, the timed cold starts included. */
    public final List<Double> allColdStartMillis = new ArrayList<>();
    public final List<Memory> plainFreshMemory = new ArrayList<>();
    public String profile;

    /**
     * Medians over the rounds; CPU in µs per request: server (plain Jetty or front) and worker, user and system;
     * thread switches per request of server and worker.
     */
    public record Stat(int runs, double rps, double p50Ms, double p99Ms, long errors, double cpuMicrosPerRequest, String tool,
                       double userUs, double systemUs, double workerUserUs, double workerSystemUs, double switches, double workerSwitches)
    {
    }

    public Stat stat(Workload workload, String config)
    {
        List<Run> selected = runs.stream().filter(r -> r.workload == workload && r.config.equals(config)).toList();
        if (selected.isEmpty())
            return null;
        return new Stat(selected.size(),
            median(selected.stream().mapToDouble(r -> r.measurement.requestsPerSecond()).toArray()),
            median(selected.stream().mapToDouble(r -> r.measurement.p50Ms()).toArray()),
            median(selected.stream().mapToDouble(r -> r.measurement.p99Ms()).toArray()),
            selected.stream().mapToLong(r -> r.measurement.errors()).sum(),
            median(selected.stream().mapToDouble(Run::cpuMicrosPerRequest).toArray()),
            selected.get(0).measurement.tool(),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.cpu.userMs())).toArray()),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.cpu.systemMs())).toArray()),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.workerCpu.userMs())).toArray()),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.workerCpu.systemMs())).toArray()),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.cpu.switches()) / 1000).toArray()),
            median(selected.stream().mapToDouble(r -> r.perRequest(r.workerCpu.switches()) / 1000).toArray()));
    }

    /**
     * @return the median of the busy-memory samples of a config, or null if none was taken
     */
    public Memory busy(String config, boolean worker)
    {
        List<Memory> samples = runs.stream().filter(r -> r.config.equals(config))
            .map(r -> worker ? r.workerBusy : r.busy).filter(m -> m != null).toList();
        if (samples.isEmpty())
            return null;
        return new Memory(Math.round(median(samples.stream().mapToDouble(Memory::rssKb).toArray())),
            Math.round(median(samples.stream().mapToDouble(Memory::pssKb).toArray())));
    }

    public static Double target(Workload workload)
    {
        return switch (workload)
        {
            case TINY_KA -> TARGET_TINY_KA;
            case PAGE_KA -> TARGET_PAGE_KA;
            default -> null;
        };
    }

    public static double median(double[] values)
    {
        double[] finite = Arrays.stream(values).filter(v -> !Double.isNaN(v)).sorted().toArray();
        if (finite.length == 0)
            return Double.NaN;
        int middle = finite.length / 2;
        return finite.length % 2 == 1 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
    }

    public static double median(List<Double> values)
    {
        return median(values.stream().mapToDouble(Double::doubleValue).toArray());
    }

    public static Memory sum(List<Memory> memories)
    {
        Memory total = Memory.NONE;
        for (Memory memory : memories)
        {
            total = total.plus(memory);
        }
        return total;
    }

    public static Memory medianOf(List<Memory> memories)
    {
        if (memories.isEmpty())
            return null;
        return new Memory(Math.round(median(memories.stream().mapToDouble(Memory::rssKb).toArray())),
            Math.round(median(memories.stream().mapToDouble(Memory::pssKb).toArray())));
    }
}
