package org.jettyitk.internal.pipe;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntSupplier;

/**
 * <p>An in-memory pipe for tests, shaped like an OS pipe: a bounded byte queue whose {@link #sink()} blocks when
 * full and whose {@link #source()} blocks when empty; closing the sink is EOF once the buffered bytes are read;
 * writing after the source closed is a broken pipe. As with a real pipe, closing the source while a reader is
 * blocked on it does not wake that reader, and the pipe stays open until that read returns (the read holds the
 * file): only data, EOF or {@link #killReader()} wake it.</p>
 * <p>Knobs for tests:</p>
 * <ul>
 *   <li>{@link #setReadLimit(IntSupplier)}: the most bytes one read returns, so a reader sees its input split
 *   at chosen boundaries (one byte at a time, random sizes);</li>
 *   <li>{@link #setSegmented(boolean)}: a read never spans two writes, so the writer chooses the boundaries;</li>
 *   <li>{@link #stallReads(boolean)}: reads block as if the reader stopped reading (a stalled peer), so writers
 *   fill the pipe and then block;</li>
 *   <li>{@link #killReader()}: the reading process died: its blocked read fails, writes become broken pipes.</li>
 * </ul>
 * <p>Unlike {@link java.io.PipedInputStream}, it does not care which threads read and write.</p>
 */
public class TestPipe
{
    /** The Linux default pipe buffer. */
    public static final int DEFAULT_CAPACITY = 64 * 1024;

    private final Object lock = new Object();
    private final ArrayDeque<byte[]> segments = new ArrayDeque<>();
    private final String name;
    private final int capacity;
    private final InputStream source = new Source();
    private final OutputStream sink = new Sink();
    private int headOffset;
    private int size;
    private int readersInRead;
    private long written;
    private long read;
    private boolean sinkClosed;
    private boolean sourceClosed;
    private boolean readerKilled;
    private boolean stalled;
    private boolean segmented;
    private IntSupplier readLimit = () -> Integer.MAX_VALUE;

    public TestPipe(String name)
    {
        this(name, DEFAULT_CAPACITY);
    }

    public TestPipe(String name, int capacity)
    {
        if (capacity < 1)
            throw new IllegalArgumentException("capacity < 1: " + capacity);
        this.name = Objects.requireNonNull(name);
        this.capacity = capacity;
    }

    /**
     * @return the reading end
     */
    public InputStream source()
    {
        return source;
    }

    /**
     * @return the writing end
     */
    public OutputStream sink()
    {
        return sink;
    }

    /**
     * @param readLimit called by the reader before each read for the most bytes it may return (at least 1 is used)
     */
    public void setReadLimit(IntSupplier readLimit)
    {
        synchronized (lock)
        {
            this.readLimit = Objects.requireNonNull(readLimit);
        }
    }

    /**
     * @param segmented whether a read stops at the end of each write
     */
    public void setSegmented(boolean segmented)
    {
        synchronized (lock)
        {
            this.segmented = segmented;
        }
    }

    public void stallReads(boolean stalled)
    {
        synchronized (lock)
        {
            this.stalled = stalled;
            lock.notifyAll();
        }
    }

    /**
     * The reading process died: a read blocked on the source fails, and so does every later write.
     */
    public void killReader()
    {
        synchronized (lock)
        {
            readerKilled = true;
            sourceClosed = true;
            discard();
            lock.notifyAll();
        }
    }

    /**
     * Closes the writing end, as {@code sink().close()} does, without a checked exception.
     */
    public void closeSink()
    {
        synchronized (lock)
        {
            // EOF for the reader once the buffered bytes are read; a writer blocked on a full pipe fails.
            sinkClosed = true;
            lock.notifyAll();
        }
    }

    /**
     * @return the bytes written so far
     */
    public long written()
    {
        synchronized (lock)
        {
            return written;
        }
    }

    /**
     * @return the bytes read so far
     */
    public long read()
    {
        synchronized (lock)
        {
            return read;
        }
    }

    /**
     * @return the bytes in the pipe, written and not yet read
     */
    public int buffered()
    {
        synchronized (lock)
        {
            return size;
        }
    }

    private void discard()
    {
        segments.clear();
        headOffset = 0;
        size = 0;
    }

    private int doRead(byte[] bytes, int offset, int length) throws IOException
    {
        Objects.checkFromIndexSize(offset, length, bytes.length);
        if (length == 0)
            return 0;
        synchronized (lock)
        {
            if (sourceClosed)
                throw new IOException(name + ": stream closed");
            readersInRead++;
            try
            {
                return readBlocking(bytes, offset, length);
            }
            finally
            {
                readersInRead--;
                if (isReadEndGone())
                {
                    discard();
                    lock.notifyAll();
                }
            }
        }
    }

    private boolean isReadEndGone()
    {
        return sourceClosed && readersInRead == 0;
    }

    private int readBlocking(byte[] bytes, int offset, int length) throws IOException
    {
        while (true)
        {
            if (readerKilled)
                throw new IOException(name + ": reader killed");
            if (!stalled && size > 0)
                break;
            if (!stalled && sinkClosed)
                return -1;
            await();
        }
        int max = Math.min(length, Math.max(1, readLimit.getAsInt()));
        int count = 0;
        while (count < max && !segments.isEmpty())
        {
            byte[] head = segments.peekFirst();
            int chunk = Math.min(max - count, head.length - headOffset);
            System.arraycopy(head, headOffset, bytes, offset + count, chunk);
            count += chunk;
            headOffset += chunk;
            if (headOffset < head.length)
                break;
            segments.removeFirst();
            headOffset = 0;
            if (segmented)
                break;
        }
        size -= count;
        read += count;
        lock.notifyAll();
        return count;
    }

    private void doWrite(byte[] bytes, int offset, int length) throws IOException
    {
        Objects.checkFromIndexSize(offset, length, bytes.length);
        synchronized (lock)
        {
            while (length > 0)
            {
                while (true)
                {
                    if (isReadEndGone())
                        throw new IOException(name + ": broken pipe");
                    if (sinkClosed)
                        throw new IOException(name + ": stream closed");
                    if (size < capacity)
                        break;
                    await();
                }
                int chunk = Math.min(length, capacity - size);
                segments.addLast(Arrays.copyOfRange(bytes, offset, offset + chunk));
                size += chunk;
                written += chunk;
                offset += chunk;
                length -= chunk;
                lock.notifyAll();
            }
        }
    }

    private void await() throws InterruptedIOException
    {
        try
        {
            lock.wait();
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
            InterruptedIOException failure = new InterruptedIOException(name + ": interrupted");
            failure.initCause(x);
            throw failure;
        }
    }

    @Override
    public String toString()
    {
        synchronized (lock)
        {
            return "%s@%x[%s,buffered=%d,written=%d,read=%d,sinkClosed=%b,sourceClosed=%b,stalled=%b]".formatted(
                getClass().getSimpleName(), hashCode(), name, size, written, read, sinkClosed, sourceClosed, stalled);
        }
    }

    private class Source extends InputStream
    {
        @Override
        public int read() throws IOException
        {
            byte[] one = new byte[1];
            int count = doRead(one, 0, 1);
            return count < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] bytes, int offset, int length) throws IOException
        {
            return doRead(bytes, offset, length);
        }

        @Override
        public int available()
        {
            return buffered();
        }

        @Override
        public void close()
        {
            synchronized (lock)
            {
                // As with a real pipe: a reader blocked on this source stays blocked and keeps the pipe open;
                // once no read is in progress, writers fail with a broken pipe.
                sourceClosed = true;
                if (isReadEndGone())
                {
                    discard();
                    lock.notifyAll();
                }
            }
        }
    }

    private class Sink extends OutputStream
    {
        @Override
        public void write(int b) throws IOException
        {
            doWrite(new byte[]{(byte)b}, 0, 1);
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException
        {
            doWrite(bytes, offset, length);
        }

        @Override
        public void close()
        {
            closeSink();
        }
    }
}
