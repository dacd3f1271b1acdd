package org.jettyitk.distribution.tenant;

import java.io.IOException;

import jakarta.websocket.OnMessage;
import jakarta.websocket.Session;
import jakarta.websocket.server.ServerEndpoint;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.websocket.jakarta.server.config.JakartaWebSocketServletContainerInitializer;
import org.eclipse.jetty.server.Handler;

/**
 * <p>A tenant's app for {@code WebSocketIT}, loaded by the worker from the tenant's {@code classes/}: a Jakarta
 * WebSocket endpoint at {@code /echo} that echoes text, on the Jakarta WebSocket of the base's
 * {@code ee10-websocket-jakarta} module.</p>
 */
public class EchoApp extends Handler.Wrapper
{
    public EchoApp()
    {
        ServletContextHandler context = new ServletContextHandler("/");
        JakartaWebSocketServletContainerInitializer.configure(context, (servletContext, container) -> container.addEndpoint(Echo.class));
        setHandler(context);
    }

    @ServerEndpoint("/echo")
    public static class Echo
    {
        @OnMessage
        public void onText(Session session, String text) throws IOException
        {
            session.getBasicRemote().sendText("echo " + text);
        }
    }
}
