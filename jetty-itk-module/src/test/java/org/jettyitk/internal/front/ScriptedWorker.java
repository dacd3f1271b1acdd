package org.jettyitk.internal.front;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.jettyitk.internal.pipe.Http2Frames;

/**
 * <p>A worker that plays a script of raw bytes, in the style of OkHttp's {@code MockHttp2Peer}: a reader thread
 * records every frame the front sends (acknowledging its SETTINGS, as any peer must), and the script, on the
 * process's main thread, writes whatever it wants, well formed or hostile.</p>
 * <pre>{@code
 * new ScriptedWorker("oversized frame", worker ->
 * {
 *     worker.write(Http2Frames.settings());
 *     int stream = worker.awaitRequest();
 *     worker.write(Http2Frames.frame(16385, Http2Frames.DATA, 0, stream, new byte[16385]));
 * });
 * }</pre>
 * <p>At EOF on its stdin the worker exits (status 0), as a real one does when the front stops it; when the
 * script ends, the process stays alive until killed or stopped.</p>
 */
public class ScriptedWorker implements FakeWorkerProcess.Peer
{
    public static final long AWAIT_SECONDS = 10;

    public interface Script
    {
        void play(ScriptedWorker worker) throws Exception;
    }

    private final String name;
    private final Script script;
    private final BlockingQueue<Http2Frames.Frame> inbound = new LinkedBlockingQueue<>();
    private final List<Http2Frames.Frame> received = new ArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile FakeWorkerProcess process;
    private volatile Throwable scriptFailure;
    private OutputStream output;

    public ScriptedWorker(String name, Script script)
    {
        this.name = name;
        this.script = script;
    }

    @Override
    public void run(FakeWorkerProcess process)
    {
        this.process = process;
        this.output = process.workerOutput();
        Thread reader = new Thread(() -> readLoop(process.workerInput()), "itk-fake-reader-" + process.pid());
        reader.setDaemon(true);
        reader.start();
        try
        {
            script.play(this);
        }
        catch (Throwable x)
        {
            // Writes fail once the front killed this worker: that is the expected end of most scripts.
            if (process.isAlive())
                scriptFailure = x;
        }
        finally
        {
            finished.countDown();
        }
    }

    private void readLoop(InputStream input)
    {
        try
        {
            Http2Frames.Reader reader = new Http2Frames.Reader(input, true);
            Http2Frames.Frame frame;
            while ((frame = reader.next()) != null)
            {
                synchronized (received)
                {
                    received.add(frame);
                }
                inbound.add(frame);
                if (frame.type() == Http2Frames.SETTINGS && !frame.hasFlag(Http2Frames.FLAG_ACK))
                    write(Http2Frames.settingsAck());
            }
            // The front closed the pipe: stop, as WorkerMain does.
            process.exit(0);
        }
        catch (IOException x)
        {
            // Killed, or the front sent something this reader does not parse: a real worker would die too.
            process.exit(0);
        }
    }

    /**
     * Writes bytes to the front, as they are, and flushes them.
     */
    public void write(byte[] bytes) throws IOException
    {
        synchronized (this)
        {
            output.write(bytes);
            output.flush();
        }
    }

    /**
     * @return the stream id of the next HEADERS frame from the front
     */
    public int awaitRequest() throws InterruptedException
    {
        return await(Http2Frames.HEADERS).streamId();
    }

    /**
     * @return the next frame of the type from the front; frames of other types before it are skipped
     */
    public Http2Frames.Frame await(int type) throws InterruptedException
    {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(AWAIT_SECONDS);
        while (true)
        {
            long left = deadline - System.nanoTime();
            Http2Frames.Frame frame = inbound.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
            if (frame == null)
                throw new IllegalStateException(name + ": no frame of type " + type + " from the front within " + AWAIT_SECONDS + "s");
            if (frame.type() == type)
                return frame;
        }
    }

    /**
     * From now on the front reads each {@link #write(byte[])} apart, never two at once.
     */
    public void segmentWrites()
    {
        process.segmentOutput();
    }

    /**
     * Stops reading the front's bytes, as tenant code suspending the worker's pipe reader would: the front's
     * writes fill the pipe, then block. Frames already read are still in {@link #received()}.
     */
    public void stopReading()
    {
        process.stallInput(true);
    }

    /**
     * Closes this worker's stdout (EOF for the front) while the process lives on.
     */
    public void closeOutput()
    {
        process.closeWorkerOutput();
    }

    /**
     * Blocks until the process ends (killed, or stopped by EOF on its stdin).
     */
    public void awaitExit() throws Exception
    {
        process.onExit().get();
    }

    /**
     * @return the frames received from the front so far
     */
    public List<Http2Frames.Frame> received()
    {
        synchronized (received)
        {
            return List.copyOf(received);
        }
    }

    /**
     * @return the script's unexpected failure (not one caused by the kill), or null
     */
    public Throwable getScriptFailure()
    {
        return scriptFailure;
    }

    public boolean awaitScript(long timeout, TimeUnit unit) throws InterruptedException
    {
        return finished.await(timeout, unit);
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s]".formatted(getClass().getSimpleName(), hashCode(), name);
    }
}
