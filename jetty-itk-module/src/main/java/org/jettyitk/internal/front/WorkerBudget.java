package org.jettyitk.internal.front;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The server-wide cap on worker processes, shared by every {@link WorkerPool} of an ItkHandler. A spawn
 * reserves a slot first and a worker's exit releases it; at the cap, requests that need a new worker get 503
 * and the operator is warned once (php-fpm's {@code process.max}).</p>
 */
public class WorkerBudget
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerBudget.class);

    private final AtomicInteger used = new AtomicInteger();
    private final AtomicBoolean warned = new AtomicBoolean();
    private final int max;

    /**
     * @param max the most worker processes at once, or {@code <= 0} for no cap
     */
    public WorkerBudget(int max)
    {
        this.max = max;
    }

    boolean tryReserve()
    {
        while (true)
        {
            int current = used.get();
            if (max > 0 && current >= max)
            {
                if (warned.compareAndSet(false, true))
                    LOG.warn("global cap of {} workers reached: requests needing a new worker get 503", max);
                return false;
            }
            if (used.compareAndSet(current, current + 1))
                return true;
        }
    }

    void release()
    {
        if (used.decrementAndGet() < max)
            warned.set(false);
    }

    public int getUsed()
    {
        return used.get();
    }

    public int getMax()
    {
        return max;
    }
}
