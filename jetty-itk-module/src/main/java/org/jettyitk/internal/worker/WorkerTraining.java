package org.jettyitk.internal.worker;

import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpURI;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.api.Session;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.jettyitk.PipeConnector;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.jettyitk.internal.pipe.PipeEndPoint;
import org.jettyitk.internal.pipe.PipeTransport;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.wire.DeploySettings;
import org.jettyitk.internal.wire.Wire;
import org.jettyitk.internal.wire.WorkerExit;

/**
 * <p>The training run of the workers' class-data-sharing archive (see
 * {@code org.jettyitk.internal.launch.WorkerClassArchive}): it loads the classes a worker loads, and the JVM
 * archives them at exit. It loads jnr-posix, then builds a worker's server and pipe connector for a static
 * site and for an exploded webapp, both its own, and sends each a request over in-memory pipes with the
 * front's HTTP/2 client. No tenant code runs, and no privilege changes.</p>
 * <pre>
 *   java -XX:ArchiveClassesAtExit=worker.jsa -cp &lt;worker class path&gt; WorkerTraining &lt;scratch directory&gt;
 * </pre>
 */
public final class WorkerTraining
{
    private static final int PIPE_BUFFER = 64 * 1024;
    private static final long TIMEOUT_SECONDS = 30;
    private static final String WEB_XML = """
        <?xml version="1.0" encoding="UTF-8"?>
        <web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0"/>
        """;

    private WorkerTraining()
    {
    }

    public static void main(String[] args) throws Exception
    {
        if (args.length != 1)
        {
            System.err.println("usage: WorkerTraining <scratch directory>");
            System.exit(WorkerExit.USAGE);
        }
        Path scratch = Files.createDirectories(Path.of(args[0]));
        Posix.get();
        Path site = Files.createDirectories(scratch.resolve("site"));
        Files.writeString(site.resolve("index.html"), "<p>site</p>");
        Path webApp = Files.createDirectories(scratch.resolve("webapp").resolve("WEB-INF")).getParent();
        Files.writeString(webApp.resolve("WEB-INF").resolve("web.xml"), WEB_XML);
        Files.writeString(webApp.resolve("index.html"), "<p>webapp</p>");
        serveOneRequest(site);
        serveOneRequest(webApp);
        System.exit(0);
    }

    private static void serveOneRequest(Path app) throws Exception
    {
        PipedInputStream workerInput = new PipedInputStream(PIPE_BUFFER);
        PipedOutputStream frontOutput = new PipedOutputStream(workerInput);
        PipedInputStream frontInput = new PipedInputStream(PIPE_BUFFER);
        PipedOutputStream workerOutput = new PipedOutputStream(frontInput);

        Server server = WorkerMain.newServer(app.toString(), null, DeploySettings.settingsOf(null, null, null));
        PipeConnector connector = WorkerMain.newConnector(server, workerInput, workerOutput);
        server.addConnector(connector);
        server.setStopTimeout(0);
        HTTP2Client client = new HTTP2Client();
        Wire.configureFront(client);
        try
        {
            server.start();
            client.start();
            PipeEndPoint endPoint = new PipeEndPoint(client.getScheduler(), client.getExecutor(), frontInput, frontOutput, "training");
            CompletableFuture<Session> session = new CompletableFuture<>();
            client.connect(new PipeTransport(endPoint), null, endPoint.getRemoteSocketAddress(), new Session.Listener() {}, Promise.from(session::complete, session::completeExceptionally));
            ConnectionFacts facts = new ConnectionFacts(new InetSocketAddress("127.0.0.1", 1), new InetSocketAddress("127.0.0.1", 2), false, "HTTP/1.1");
            HttpFields fields = HttpFields.build().put(ConnectionFacts.HEADER, facts.format());
            MetaData.Request request = new MetaData.Request("GET", HttpURI.from("http://training/"), HttpVersion.HTTP_2, fields);
            CompletableFuture<Integer> status = new CompletableFuture<>();
            session.get(TIMEOUT_SECONDS, TimeUnit.SECONDS).newStream(new HeadersFrame(request, null, true), Promise.from(s -> {}, status::completeExceptionally), new ResponseListener(status));
            int code = status.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (code != 200)
                throw new IOException(app + " answered " + code);
            endPoint.close();
        }
        finally
        {
            client.stop();
            server.stop();
        }
    }

    private static final class ResponseListener implements Stream.Listener
    {
        private final CompletableFuture<Integer> status;
        private int code;

        private ResponseListener(CompletableFuture<Integer> status)
        {
            this.status = status;
        }

        @Override
        public void onHeaders(Stream stream, HeadersFrame frame)
        {
            if (frame.getMetaData() instanceof MetaData.Response response)
                code = response.getStatus();
            if (frame.isEndStream())
                status.complete(code);
            else
                stream.demand();
        }

        @Override
        public void onDataAvailable(Stream stream)
        {
            Stream.Data data = stream.readData();
            if (data == null)
            {
                stream.demand();
                return;
            }
            data.release();
            if (data.frame().isEndStream())
                status.complete(code);
            else
                stream.demand();
        }

        @Override
        public void onFailure(Stream stream, int error, String reason, Throwable failure, Callback callback)
        {
            status.completeExceptionally(failure);
            callback.succeeded();
        }
    }
}
