package org.jettyitk.examples.fidelity;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * <p>An async request ({@code async-supported} in web.xml): the response is written and completed by another
 * thread, after {@code ?delayMs=} milliseconds.</p>
 */
public class AsyncServlet extends HttpServlet
{
    private ScheduledExecutorService scheduler;

    @Override
    public void init()
    {
        scheduler = Executors.newSingleThreadScheduledExecutor(runnable ->
        {
            Thread thread = new Thread(runnable, "fidelity-async");
            thread.setDaemon(true);
            return thread;
        });
    }

    @Override
    public void destroy()
    {
        scheduler.shutdownNow();
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response)
    {
        Query query = new Query(request);
        AsyncContext async = request.startAsync();
        scheduler.schedule(() ->
        {
            try
            {
                response.setContentType("text/plain;charset=utf-8");
                response.setHeader("X-App-Async", "completed by another thread");
                response.getWriter().printf("async response, started on %s%n", request.getDispatcherType());
                async.complete();
            }
            catch (IOException x)
            {
                throw new UncheckedIOException(x);
            }
        }, query.getInt("delayMs", 50), TimeUnit.MILLISECONDS);
    }
}
