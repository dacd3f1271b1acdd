package org.jettyitk.internal.pipe;

import java.util.List;
import java.util.Set;

/**
 * <p>The pipe EndPoints' threads a test leaves behind: a snapshot of the live threads taken before the test,
 * then the {@code itk-pipe-} threads started since that are still alive.</p>
 */
public final class PipeThreads
{
    private final Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());

    private PipeThreads()
    {
    }

    public static PipeThreads snapshot()
    {
        return new PipeThreads();
    }

    /**
     * @return the names of the live {@code itk-pipe-} threads that were not in the snapshot, sorted
     */
    public List<String> started()
    {
        return Thread.getAllStackTraces().keySet().stream()
            .filter(Thread::isAlive)
            .filter(thread -> thread.getName().startsWith("itk-pipe-"))
            .filter(thread -> !before.contains(thread))
            .map(Thread::getName)
            .sorted()
            .toList();
    }
}
