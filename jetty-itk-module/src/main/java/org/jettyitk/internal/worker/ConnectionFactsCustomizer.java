package org.jettyitk.internal.worker;

import java.net.SocketAddress;
import java.util.List;

import org.eclipse.jetty.http.HttpException;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.ConnectionMetaData;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;
import org.jettyitk.internal.pipe.ConnectionFacts;

/**
 * <p>Worker side of the connection facts: makes each request report the client's address, the front's local
 * address and the connection's security exactly as the front saw them, and hides the private header from the
 * application.</p>
 * <p>Every request on a pipe comes from the front, which always sets exactly one header; a request without it,
 * or with more than one (a client's copy that got through), is a front bug or a forged stream and is refused
 * with 400. Only the request's header fields count: trailers come from the client, after the request was
 * customized, and are never read here, whatever they carry ({@code Itk-Connection}, {@code Forwarded}).</p>
 */
public class ConnectionFactsCustomizer implements HttpConfiguration.Customizer
{
    @Override
    public Request customize(Request request, HttpFields.Mutable responseHeaders)
    {
        ConnectionFacts facts;
        try
        {
            List<String> values = request.getHeaders().getValuesList(ConnectionFacts.HEADER);
            if (values.size() > 1)
                throw new IllegalArgumentException(ConnectionFacts.HEADER + " " + values.size() + " copies, the front sends one");
            facts = ConnectionFacts.parse(values.isEmpty() ? null : values.get(0));
        }
        catch (IllegalArgumentException x)
        {
            throw new HttpException.RuntimeException(HttpStatus.BAD_REQUEST_400, x.getMessage(), x);
        }
        HttpFields headers = HttpFields.build(request.getHeaders()).remove(ConnectionFacts.HEADER).asImmutable();
        ConnectionMetaData metaData = new FactsConnectionMetaData(request.getConnectionMetaData(), facts);
        return new Request.Wrapper(request)
        {
            @Override
            public HttpFields getHeaders()
            {
                return headers;
            }

            @Override
            public ConnectionMetaData getConnectionMetaData()
            {
                return metaData;
            }

            @Override
            public boolean isSecure()
            {
                return facts.secure();
            }
        };
    }

    private static class FactsConnectionMetaData extends ConnectionMetaData.Wrapper
    {
        private final ConnectionFacts facts;

        private FactsConnectionMetaData(ConnectionMetaData wrapped, ConnectionFacts facts)
        {
            super(wrapped);
            this.facts = facts;
        }

        @Override
        public boolean isSecure()
        {
            return facts.secure();
        }

        @Override
        public SocketAddress getRemoteSocketAddress()
        {
            return facts.remote();
        }

        @Override
        public SocketAddress getLocalSocketAddress()
        {
            return facts.local();
        }

        @Override
        public String getProtocol()
        {
            return facts.protocol();
        }
    }
}
