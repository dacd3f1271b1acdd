package org.jettyitk.internal.pipe;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.GatheringByteChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.function.IntSupplier;

import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.thread.AutoLock;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;
import org.jettyitk.internal.wire.Wire;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>An {@link org.eclipse.jetty.io.EndPoint} over a pair of blocking pipe streams: the worker's
 * stdin/stdout on the worker side, {@link Process#getInputStream()} / {@link Process#getOutputStream()}
 * on the front side.</p>
 * <p>Jetty's selector takes only a {@code SelectableChannel}, and Java makes none over a pipe it did not create
 * itself (a child's stdin and stdout, a worker's own): the pipes are read and written with blocking calls, so the
 * EndPoint owns two threads ({@link #getThreads()}; {@code docs/protocol.md}, "Threads"):</p>
 * <ul>
 *   <li>a <em>reader</em> that blocks on the input stream and queues each chunk it read for
 *   {@link #fill(ByteBuffer)}. It keeps reading while the connection parses, until {@link Wire#PIPE_READ_CHUNKS}
 *   chunks wait to be filled; then it waits, and the pipe itself is the back-pressure;</li>
 *   <li>a <em>writer</em> that performs the blocking writes. {@link #flush(ByteBuffer...)} copies the buffers
 *   into a write-behind queue and returns {@code true} while less than {@link Wire#PIPE_WRITE_BEHIND_LIMIT} bytes wait
 *   there; over it, it returns {@code false} and the writer completes the
 *   {@link org.eclipse.jetty.io.WriteFlusher} once it has written the queue down. So a peer that stops reading
 *   blocks only the writer, never a thread of the executor, and a connection that keeps up with its peer
 *   never waits for a thread hand-off to write. Where the pipe can tell how much it takes without blocking
 *   ({@link #setDirectOutput(GatheringByteChannel, IntSupplier)}), a flush that finds the queue empty and
 *   room enough is written by the flushing thread itself, with neither copy nor hand-off.</li>
 * </ul>
 * <p>When a chunk arrives for a connection that declared fill interest, the reader notifies it as Jetty's
 * selector would: a callback that does not block (Jetty's HTTP/2 connection, whose fill interest is
 * {@code EITHER}) runs on the reader thread in non-blocking mode, so it parses with no thread hand-off and gives
 * its blocking tasks (the handlers) to its executor; a blocking one is dispatched to the {@link Executor} given
 * to the constructor, since running it on the reader would let it block the thread that must read its next
 * bytes. A connection that is still filling takes the next chunk without any notification.</p>
 * <p>A write that fails after its flush returned {@code true} closes the EndPoint with that failure, as a
 * socket's kernel buffer would report it on a later write. A peer that stops reading blocks the writer for ever:
 * {@link #getWriteStalledNanos()} says for how long, so that the owner can end it.</p>
 * <pre>
 *   reader thread ──chunk──▶ [queue of READ_CHUNKS] ──fill()──▶ Connection (reader thread if non-blocking, else executor)
 *   Connection ──flush(buffers): copy──▶ [write-behind queue] ──▶ writer thread ──▶ OutputStream
 *                    └─ queue over the limit: false ──▶ writer writes it down ──▶ completeWrite()
 * </pre>
 */
public class PipeEndPoint extends AbstractEndPoint
{
    private static final Logger LOG = LoggerFactory.getLogger(PipeEndPoint.class);
    /** A write-behind buffer larger than this is dropped once written, not kept for the next writes. */
    private static final int MAX_KEPT_WRITE_BUFFER = 1024 * 1024;
    private static final int INITIAL_WRITE_BUFFER = 16 * 1024;

    private final AutoLock.WithCondition readLock = new AutoLock.WithCondition();
    private final AutoLock.WithCondition writeLock = new AutoLock.WithCondition();
    private final InputStream input;
    private final OutputStream output;
    private final Executor executor;
    private final SocketAddress localAddress;
    private final SocketAddress remoteAddress;
    private final String name;
    // Guarded by readLock.
    private final ArrayDeque<ByteBuffer> readQueue = new ArrayDeque<>(Wire.PIPE_READ_CHUNKS);
    private final ArrayDeque<byte[]> freeChunks = new ArrayDeque<>(Wire.PIPE_READ_CHUNKS);
    private int readChunks;
    private boolean inputEOF;
    private boolean closed;
    // Guarded by writeLock.
    private byte[] writeBuffer = new byte[0];
    private int writeLength;
    private int writingLength;
    private byte[] spareWriteBuffer;
    private boolean flusherWaiting;
    private boolean outputClosing;
    private IOException writeFailure;
    // Written under writeLock, read without it.
    private volatile long bytesFlushed;
    private volatile long writeStartNanos;
    private volatile boolean writing;
    private final CompletableFuture<Void> closedFuture = new CompletableFuture<>();
    private volatile Consumer<ByteBuffer> inspector;
    private GatheringByteChannel directOutput;
    private IntSupplier directRoom;
    private volatile Thread readerThread;
    private volatile Thread writerThread;

    /**
     * @param scheduler the scheduler for the idle timeout
     * @param executor the executor on which fill interest is notified
     * @param input the stream the peer writes to; it is read only by the reader thread
     * @param output the stream the peer reads from; it is written only by the writer thread
     * @param name a name for the threads and logs, such as the vhost and pid
     */
    public PipeEndPoint(Scheduler scheduler, Executor executor, InputStream input, OutputStream output, String name)
    {
        super(scheduler);
        this.executor = executor;
        this.input = input;
        this.output = output;
        this.name = name;
        this.localAddress = new PipeSocketAddress(name, "local");
        this.remoteAddress = new PipeSocketAddress(name, "remote");
    }

    @Override
    public void onOpen()
    {
        super.onOpen();
        readerThread = new Thread(this::readLoop, "itk-pipe-reader-" + name);
        writerThread = new Thread(this::writeLoop, "itk-pipe-writer-" + name);
        readerThread.setDaemon(true);
        writerThread.setDaemon(true);
        readerThread.start();
        writerThread.start();
    }

    /**
     * <p>Lets {@link #flush(ByteBuffer...)} write on the caller's thread, with no copy and no hand-off to the
     * writer, whenever nothing waits for the writer and the pipe has room for all of the flush. The caller must
     * never wait for the peer, so the channel either has a truthful room (a blocking pipe write that fits the free
     * room completes at once) or is in non-blocking mode (it takes what fits, and the writer writes the rest
     * after it). Any other flush still goes through the write-behind queue.</p>
     * <p>Call before {@link #onOpen()}. The EndPoint closes the channel with its output.</p>
     * @param channel the same pipe as the output stream, written only while the writer has nothing to write
     * @param room the bytes the pipe takes now without blocking: its capacity less what the peer has not read
     * yet (only this EndPoint writes to the pipe, so the room can only grow until it writes), 0 when unknown;
     * {@link Integer#MAX_VALUE} for a channel in non-blocking mode
     */
    public void setDirectOutput(GatheringByteChannel channel, IntSupplier room)
    {
        this.directOutput = channel;
        this.directRoom = room;
    }

    /**
     * @param inspector sees every chunk read, on the reader thread, before the connection does; it must not
     * block or modify the chunk
     */
    public void setInspector(Consumer<ByteBuffer> inspector)
    {
        this.inspector = inspector;
    }

    @Override
    public SocketAddress getLocalSocketAddress()
    {
        return localAddress;
    }

    @Override
    public SocketAddress getRemoteSocketAddress()
    {
        return remoteAddress;
    }

    @Override
    public Object getTransport()
    {
        return input;
    }

    @Override
    public int fill(ByteBuffer buffer) throws IOException
    {
        int filled = 0;
        boolean eof = false;
        try (AutoLock.WithCondition l = readLock.lock())
        {
            if (closed)
                throw new EofException("closed");
            ByteBuffer chunk;
            while ((chunk = readQueue.peek()) != null && BufferUtil.space(buffer) > 0)
            {
                filled += BufferUtil.append(buffer, chunk);
                if (chunk.hasRemaining())
                    break;
                readQueue.poll();
                freeChunks.push(chunk.array());
                l.signalAll();
            }
            if (filled == 0 && readQueue.isEmpty() && inputEOF)
                eof = true;
        }
        if (filled > 0)
            notIdle();
        else if (eof)
        {
            shutdownInput();
            return -1;
        }
        return filled;
    }

    @Override
    protected void needsFillInterest() throws IOException
    {
        boolean ready;
        try (AutoLock ignored = readLock.lock())
        {
            if (closed)
                throw new ClosedChannelException();
            ready = !readQueue.isEmpty() || inputEOF;
        }
        if (ready)
            executor.execute(this::onFillable);
    }

    private void onFillable()
    {
        getFillInterest().fillable();
    }

    /**
     * Notifies the connection if it waits for bytes: here if its callback does not block, else on the executor.
     * A connection that registers its interest after this check finds the bytes in {@link #needsFillInterest()};
     * one that registers before is notified here; if both notify, the second {@code fillable()} finds no
     * interest and does nothing.
     */
    private void onReadable()
    {
        if (!getFillInterest().isInterested())
            return;
        if (getFillInterest().getCallbackInvocationType() != Invocable.InvocationType.BLOCKING)
        {
            // The connection promises not to block when told so: it parses here, as Jetty's selector would let
            // it, and hands only its blocking tasks (the handlers) to the executor. That saves a thread hand-off.
            try
            {
                Invocable.invokeNonBlocking(this::onFillable);
            }
            catch (Throwable x)
            {
                LOG.warn("{} connection failed on the reader thread", this, x);
                close(x);
            }
            return;
        }
        try
        {
            executor.execute(this::onFillable);
        }
        catch (RejectedExecutionException x)
        {
            // The executor stopped before this EndPoint closed: nobody is left to read.
            LOG.debug("{} not dispatched", this, x);
        }
    }

    private void readLoop()
    {
        try
        {
            while (true)
            {
                byte[] chunk = takeFreeChunk();
                if (chunk == null)
                    return;
                int read = input.read(chunk);
                // The inspector sees the bytes before the connection may parse them.
                Consumer<ByteBuffer> inspector = this.inspector;
                if (read > 0 && inspector != null)
                    inspector.accept(ByteBuffer.wrap(chunk, 0, read).asReadOnlyBuffer());
                try (AutoLock ignored = readLock.lock())
                {
                    // The inspector may have closed this EndPoint: nothing more is delivered.
                    if (closed)
                        return;
                    if (read < 0)
                        inputEOF = true;
                    if (read > 0)
                        readQueue.add(ByteBuffer.wrap(chunk, 0, read));
                    else
                        freeChunks.push(chunk);
                }
                if (LOG.isDebugEnabled())
                    LOG.debug("{} read {}", this, read);
                onReadable();
                if (read < 0)
                    return;
            }
        }
        catch (IOException | InterruptedException x)
        {
            if (LOG.isDebugEnabled())
                LOG.debug("{} read failed", this, x);
            try (AutoLock ignored = readLock.lock())
            {
                inputEOF = true;
            }
            onReadable();
        }
    }

    /**
     * @return a chunk to read into, once fewer than {@link Wire#PIPE_READ_CHUNKS} wait to be filled; {@code null} once
     * this EndPoint is closed
     */
    private byte[] takeFreeChunk() throws InterruptedException
    {
        try (AutoLock.WithCondition l = readLock.lock())
        {
            while (!closed && freeChunks.isEmpty() && readChunks == Wire.PIPE_READ_CHUNKS)
                l.await();
            if (closed)
                return null;
            if (!freeChunks.isEmpty())
                return freeChunks.pop();
            readChunks++;
            return new byte[Wire.PIPE_READ_CHUNK_SIZE];
        }
    }

    @Override
    public boolean flush(ByteBuffer... buffers) throws IOException
    {
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            if (writeFailure != null)
                throw new EofException(writeFailure);
            // doClose() sets outputClosing too.
            if (outputClosing)
                throw new EofException("output shutdown");
            int length = writeLength;
            for (ByteBuffer buffer : buffers)
            {
                length = Math.addExact(length, buffer.remaining());
            }
            if (length == writeLength)
                return true;
            if (writeLength + writingLength >= Wire.PIPE_WRITE_BEHIND_LIMIT)
                return false;
            bytesFlushed += length - writeLength;
            if (writeLength == 0 && writingLength == 0 && directOutput != null && length <= directRoom.getAsInt())
            {
                length -= writeDirect(buffers, length);
                if (length == 0)
                    return true;
                // The pipe took part of it: the rest goes to the writer, behind what was written.
            }
            // Copy now, on the caller's thread: once the flush returns, Jetty may release these buffers to a
            // pool shared with other workers' sessions, and the writer must never touch them again.
            if (length > writeBuffer.length)
                writeBuffer = Arrays.copyOf(writeBuffer, Math.max(length, Math.max(INITIAL_WRITE_BUFFER, writeBuffer.length * 2)));
            for (ByteBuffer buffer : buffers)
            {
                int remaining = buffer.remaining();
                buffer.get(writeBuffer, writeLength, remaining);
                writeLength += remaining;
            }
            l.signalAll();
            // Over the limit the buffers are consumed all the same: the WriteFlusher's next flush has nothing left.
            return writeLength + writingLength <= Wire.PIPE_WRITE_BEHIND_LIMIT;
        }
    }

    /**
     * Writes {@code buffers} on this thread, under the write lock, so the writer cannot start meanwhile: all of
     * them when the room said they fit, else what a non-blocking pipe takes now.
     * @return the bytes written
     */
    private long writeDirect(ByteBuffer[] buffers, long length) throws IOException
    {
        // An interruptible channel closes itself when written by an interrupted thread: an application that
        // re-asserts an interrupt before it writes its response must not close the worker's pipe.
        boolean interrupted = Thread.interrupted();
        long written = 0;
        try
        {
            while (written < length)
            {
                long wrote = directOutput.write(buffers);
                if (wrote == 0)
                    break;
                written += wrote;
            }
        }
        catch (IOException x)
        {
            // As a failed write of the writer, which then closes the stream.
            failOutput(x);
            throw x;
        }
        finally
        {
            if (interrupted)
                Thread.currentThread().interrupt();
        }
        if (written > 0)
            notIdle();
        return written;
    }

    /**
     * @return the reader and writer threads, once {@link #onOpen()} started them; they end when this EndPoint has
     * closed and its pipes have
     */
    public List<Thread> getThreads()
    {
        List<Thread> threads = new ArrayList<>(2);
        if (readerThread != null)
            threads.add(readerThread);
        if (writerThread != null)
            threads.add(writerThread);
        return threads;
    }

    /**
     * @return the bytes flushed so far, written or waiting for the writer
     */
    public long getBytesFlushed()
    {
        return bytesFlushed;
    }

    /**
     * @return the bytes waiting for the writer, or being written by it
     */
    public int getQueuedBytes()
    {
        try (AutoLock ignored = writeLock.lock())
        {
            return writeLength + writingLength;
        }
    }

    /**
     * @return how long the writer has been blocked in its current write, 0 when it is not writing: a peer that
     * stops reading keeps it blocked for ever
     */
    public long getWriteStalledNanos()
    {
        long start = writeStartNanos;
        if (!writing)
            return 0;
        return Math.max(0, System.nanoTime() - start);
    }

    @Override
    protected void onIncompleteFlush()
    {
        // The WriteFlusher is PENDING: the writer calls completeWrite() once the queue is under the limit.
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            flusherWaiting = true;
            l.signalAll();
        }
    }

    private void writeLoop()
    {
        try
        {
            while (true)
            {
                byte[] job = null;
                int length = 0;
                try (AutoLock.WithCondition l = writeLock.lock())
                {
                    while (true)
                    {
                        if (flusherWaiting && writeLength + writingLength < Wire.PIPE_WRITE_BEHIND_LIMIT)
                        {
                            flusherWaiting = false;
                            break;
                        }
                        if (writeLength > 0)
                        {
                            job = writeBuffer;
                            length = writeLength;
                            writingLength = length;
                            writeBuffer = spareWriteBuffer != null ? spareWriteBuffer : new byte[INITIAL_WRITE_BUFFER];
                            spareWriteBuffer = null;
                            writeLength = 0;
                            break;
                        }
                        if (outputClosing)
                        {
                            closeDirectOutput();
                            output.close();
                            return;
                        }
                        l.await();
                    }
                }
                if (job == null)
                {
                    // Flushes again, on this thread, what the connection could not queue.
                    getWriteFlusher().completeWrite();
                    continue;
                }
                writeStartNanos = System.nanoTime();
                writing = true;
                output.write(job, 0, length);
                output.flush();
                writing = false;
                notIdle();
                try (AutoLock ignored = writeLock.lock())
                {
                    writingLength = 0;
                    if (job.length <= MAX_KEPT_WRITE_BUFFER)
                        spareWriteBuffer = job;
                }
            }
        }
        catch (IOException | InterruptedException x)
        {
            writing = false;
            if (LOG.isDebugEnabled())
                LOG.debug("{} write failed", this, x);
            IOException failure = x instanceof IOException io ? io : new InterruptedIOException();
            try (AutoLock ignored = writeLock.lock())
            {
                closeDirectOutput();
                failOutput(failure);
            }
            getWriteFlusher().onFail(failure);
            close(failure);
        }
    }

    /**
     * Called under the write lock when a write failed: later flushes fail at once with {@code failure}, and
     * nothing queued is written any more.
     */
    private void failOutput(IOException failure)
    {
        outputClosing = true;
        writeFailure = failure;
        writeLength = 0;
        writingLength = 0;
        flusherWaiting = false;
        writeLock.signalAll();
    }

    /**
     * Closes the direct output, under the write lock: no direct write can be using its descriptor, and none can
     * start once {@code outputClosing} is set.
     */
    private void closeDirectOutput()
    {
        if (directOutput == null)
            return;
        try
        {
            directOutput.close();
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    protected void doShutdownOutput()
    {
        // The writer writes what is queued, then closes the stream.
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            outputClosing = true;
            l.signalAll();
        }
    }

    @Override
    protected void doClose()
    {
        try (AutoLock.WithCondition l = readLock.lock())
        {
            closed = true;
            l.signalAll();
        }
        try (AutoLock.WithCondition l = writeLock.lock())
        {
            // What the connection flushed before closing (a GOAWAY) is still written, then the stream closed.
            outputClosing = true;
            // An EndPoint that was never opened has no writer to close it.
            if (writerThread == null)
                closeDirectOutput();
            l.signalAll();
        }
        // Closing the input may not wake a reader blocked on a pipe; the peer's exit (EOF) does.
        closeQuietly(input);
        super.doClose();
    }

    @Override
    public void onClose(Throwable cause)
    {
        super.onClose(cause);
        closedFuture.complete(null);
    }

    /**
     * @return a future completed once this EndPoint has closed
     */
    public CompletableFuture<Void> closed()
    {
        return closedFuture;
    }

    private void closeQuietly(InputStream stream)
    {
        try
        {
            stream.close();
        }
        catch (IOException x)
        {
            LOG.trace("IGNORED", x);
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), name);
    }

    private static final class PipeSocketAddress extends SocketAddress
    {
        private final String text;

        private PipeSocketAddress(String name, String side)
        {
            this.text = "pipe:" + name + ":" + side;
        }

        @Override
        public String toString()
        {
            return text;
        }
    }
}
