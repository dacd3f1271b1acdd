package org.jettyitk.internal.wire;

import java.io.IOException;
import java.util.List;

import jnr.constants.platform.RLIMIT;
import org.jettyitk.internal.posix.Posix;

/**
 * <p>The limits a worker process puts on itself before any tenant code runs: a nice value and resource
 * limits. Each limit sets soft and hard to the same value, so the tenant cannot raise it again (lowering a
 * hard limit needs no privilege; raising it does). {@value #UNSET} leaves a limit as inherited.</p>
 *
 * @param nice the nice value to add, 0..19
 * @param maxOpenFiles {@code RLIMIT_NOFILE}
 * @param maxProcesses {@code RLIMIT_NPROC}: counts every process and thread of the uid, all its workers
 * included
 * @param maxAddressSpace {@code RLIMIT_AS} in bytes: a JVM reserves far more address space than it uses,
 * so keep it generous (several GiB)
 * @param maxCoreSize {@code RLIMIT_CORE} in bytes
 */
public record ProcessLimits(int nice, long maxOpenFiles, long maxProcesses, long maxAddressSpace, long maxCoreSize)
{
    public static final long UNSET = -1;
    public static final ProcessLimits NONE = new ProcessLimits(0, UNSET, UNSET, UNSET, UNSET);

    public ProcessLimits
    {
        if (nice < 0 || nice > 19)
            throw new IllegalArgumentException("nice outside 0..19: " + nice);
        check("maxOpenFiles", maxOpenFiles);
        check("maxProcesses", maxProcesses);
        check("maxAddressSpace", maxAddressSpace);
        check("maxCoreSize", maxCoreSize);
    }

    private static void check(String name, long value)
    {
        if (value < UNSET)
            throw new IllegalArgumentException(name + " < 0: " + value);
    }

    void addArguments(List<String> args)
    {
        if (nice != 0)
            args.addAll(List.of("--nice", Integer.toString(nice)));
        add(args, "--rlimit-nofile", maxOpenFiles);
        add(args, "--rlimit-nproc", maxProcesses);
        add(args, "--rlimit-as", maxAddressSpace);
        add(args, "--rlimit-core", maxCoreSize);
    }

    private static void add(List<String> args, String option, long value)
    {
        if (value != UNSET)
            args.addAll(List.of(option, Long.toString(value)));
    }

    ProcessLimits with(String option, String value)
    {
        return switch (option)
        {
            case "--nice" -> new ProcessLimits(Integer.parseInt(value), maxOpenFiles, maxProcesses, maxAddressSpace, maxCoreSize);
            case "--rlimit-nofile" -> new ProcessLimits(nice, Long.parseLong(value), maxProcesses, maxAddressSpace, maxCoreSize);
            case "--rlimit-nproc" -> new ProcessLimits(nice, maxOpenFiles, Long.parseLong(value), maxAddressSpace, maxCoreSize);
            case "--rlimit-as" -> new ProcessLimits(nice, maxOpenFiles, maxProcesses, Long.parseLong(value), maxCoreSize);
            case "--rlimit-core" -> new ProcessLimits(nice, maxOpenFiles, maxProcesses, maxAddressSpace, Long.parseLong(value));
            default -> throw new IllegalArgumentException("unknown option: " + option);
        };
    }

    /**
     * Applies the limits to this process, checking each call: the worker does, before its privilege drop is proven.
     */
    public void apply(Posix posix) throws IOException
    {
        if (nice != 0)
            posix.setpriority(nice);
        apply(posix, RLIMIT.RLIMIT_NOFILE, maxOpenFiles);
        apply(posix, RLIMIT.RLIMIT_NPROC, maxProcesses);
        apply(posix, RLIMIT.RLIMIT_AS, maxAddressSpace);
        apply(posix, RLIMIT.RLIMIT_CORE, maxCoreSize);
    }

    private static void apply(Posix posix, RLIMIT resource, long value) throws IOException
    {
        if (value != UNSET)
            posix.setrlimit(resource.intValue(), value, value);
    }
}
