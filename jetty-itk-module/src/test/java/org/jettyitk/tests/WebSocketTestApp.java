package org.jettyitk.tests;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.websocket.CloseReason;
import jakarta.websocket.Extension;
import jakarta.websocket.OnClose;
import jakarta.websocket.OnMessage;
import jakarta.websocket.OnOpen;
import jakarta.websocket.server.ServerEndpoint;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.websocket.jakarta.server.config.JakartaWebSocketServletContainerInitializer;
import org.eclipse.jetty.ee10.websocket.server.config.JettyWebSocketServletContainerInitializer;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.ExtensionConfig;
import org.eclipse.jetty.websocket.api.Session;

/**
 * <p>A tenant's WebSocket app, the same behind the front and on a plain Jetty: a Jakarta endpoint at
 * {@code /jakarta/echo} and a Jetty API endpoint at {@code /jetty/echo} (both offering the subprotocol
 * {@code chat}), and servlets {@code /hello} and {@code /last-close} (the close code and reason the last
 * endpoint to close received).</p>
 * <p>Both endpoints echo text and binary messages, and take commands as text: {@code close CODE REASON} closes
 * the session, {@code negotiated} answers {@code subprotocol=... extensions=...}. The Jetty endpoint also takes
 * {@code fragments A B C} (sends {@code ABC} as three frames) and {@code flood COUNT SIZE} (sends COUNT binary
 * messages of SIZE bytes, one after the other). With {@link #STOP_MARKER} set, its stop leaves a file.</p>
 */
public class WebSocketTestApp extends Handler.Wrapper
{
    private static final int MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
    /** Environment variable: when set, the app's stop writes the file {@code VALUE-PID} in the current directory. */
    public static final String STOP_MARKER = "ITK_TEST_STOP_MARKER";
    private static volatile String lastClose = "none";

    public WebSocketTestApp()
    {
        ServletContextHandler context = new ServletContextHandler("/");
        context.addServlet(new HttpServlet()
        {
            @Override
            protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
            {
                response.setContentType("text/plain");
                response.getWriter().print("hello");
            }
        }, "/hello");
        context.addServlet(new HttpServlet()
        {
            @Override
            protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
            {
                response.setContentType("text/plain");
                response.getWriter().print(lastClose);
            }
        }, "/last-close");
        JakartaWebSocketServletContainerInitializer.configure(context, (servletContext, container) ->
        {
            container.setDefaultMaxBinaryMessageBufferSize(MAX_MESSAGE_SIZE);
            container.setDefaultMaxTextMessageBufferSize(MAX_MESSAGE_SIZE);
            container.addEndpoint(JakartaEcho.class);
        });
        JettyWebSocketServletContainerInitializer.configure(context, (servletContext, container) ->
        {
            container.setMaxBinaryMessageSize(MAX_MESSAGE_SIZE);
            container.setMaxTextMessageSize(MAX_MESSAGE_SIZE);
            container.addMapping("/jetty/echo", (request, response) ->
            {
                if (request.getSubProtocols().contains("chat"))
                    response.setAcceptedSubProtocol("chat");
                return new JettyEcho();
            });
        });
        setHandler(context);
    }

    @Override
    protected void doStop() throws Exception
    {
        super.doStop();
        // Only a server that stops runs this: a worker killed (SIGKILL) leaves no marker.
        String marker = System.getenv(STOP_MARKER);
        if (marker != null)
            Files.writeString(Path.of(marker + "-" + ProcessHandle.current().pid()), "stopped");
    }

    @ServerEndpoint(value = "/jakarta/echo", subprotocols = {"chat"})
    public static class JakartaEcho
    {
        @OnOpen
        public void onOpen(jakarta.websocket.Session session)
        {
            session.setMaxBinaryMessageBufferSize(MAX_MESSAGE_SIZE);
            session.setMaxTextMessageBufferSize(MAX_MESSAGE_SIZE);
        }

        @OnMessage
        public void onText(jakarta.websocket.Session session, String text) throws IOException
        {
            String[] words = text.split(" ", 3);
            if (words[0].equals("close"))
                session.close(new CloseReason(CloseReason.CloseCodes.getCloseCode(Integer.parseInt(words[1])), words[2]));
            else if (words[0].equals("negotiated"))
                session.getBasicRemote().sendText("subprotocol=" + session.getNegotiatedSubprotocol() + " extensions=" +
                    session.getNegotiatedExtensions().stream().map(Extension::getName).collect(Collectors.joining(",")));
            else
                session.getBasicRemote().sendText(text);
        }

        @OnMessage
        public void onBinary(jakarta.websocket.Session session, ByteBuffer bytes) throws IOException
        {
            session.getBasicRemote().sendBinary(bytes);
        }

        @OnClose
        public void onClose(CloseReason reason)
        {
            lastClose = reason.getCloseCode().getCode() + " " + reason.getReasonPhrase();
        }
    }

    public static class JettyEcho implements Session.Listener.AutoDemanding
    {
        private Session session;

        @Override
        public void onWebSocketOpen(Session session)
        {
            this.session = session;
        }

        @Override
        public void onWebSocketText(String text)
        {
            String[] words = text.split(" ", 3);
            switch (words[0])
            {
                case "close" -> session.close(Integer.parseInt(words[1]), words[2], Callback.NOOP);
                case "negotiated" -> session.sendText("subprotocol=" + session.getUpgradeResponse().getAcceptedSubProtocol() + " extensions=" +
                    session.getUpgradeResponse().getExtensions().stream().map(ExtensionConfig::getName).collect(Collectors.joining(",")), Callback.NOOP);
                case "fragments" -> sendFragments(text.substring("fragments ".length()).split(" "), 0);
                case "flood" -> flood(Integer.parseInt(words[1]), Integer.parseInt(words[2]));
                default -> session.sendText(text, Callback.NOOP);
            }
        }

        private void sendFragments(String[] parts, int index)
        {
            boolean last = index == parts.length - 1;
            session.sendPartialText(parts[index], last, Callback.from(() ->
            {
                if (!last)
                    sendFragments(parts, index + 1);
            }, Throwable::printStackTrace));
        }

        private void flood(int count, int size)
        {
            if (count == 0)
                return;
            session.sendBinary(ByteBuffer.allocate(size), Callback.from(() -> flood(count - 1, size), x -> {}));
        }

        @Override
        public void onWebSocketBinary(ByteBuffer payload, Callback callback)
        {
            ByteBuffer copy = ByteBuffer.allocate(payload.remaining()).put(payload).flip();
            callback.succeed();
            session.sendBinary(copy, Callback.NOOP);
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback)
        {
            lastClose = statusCode + " " + reason;
            callback.succeed();
        }
    }
}
