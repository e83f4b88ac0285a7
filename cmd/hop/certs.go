package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/hop-meet/hop/certs"
)

// runCerts handles `hop certs init`: a private CA and a server certificate for a closed network.
func runCerts(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "init" {
		return errors.New(`usage: hop certs init --dir DIR --name NAME [--name …] [--ip IP …]`)
	}
	fs := flag.NewFlagSet("certs init", flag.ContinueOnError)
	dir := fs.String("dir", "hop-certs", "directory for ca.crt, ca.key, server.crt, server.key (an existing CA there is reused)")
	var names, ips listFlag
	fs.Var(&names, "name", "a DNS name the server is reached by (repeat, or comma separated)")
	fs.Var(&ips, "ip", "an IP address the server is reached by (repeat, or comma separated)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var addrs []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--ip %q is not an IP address", s)
		}
		addrs = append(addrs, ip)
	}
	for _, n := range names {
		if net.ParseIP(n) != nil {
			return fmt.Errorf("--name %q is an IP address: use --ip", n)
		}
	}
	lan, err := certs.InitLAN(*dir, names, addrs)
	if err != nil {
		return err
	}
	caNote := "new"
	if lan.CAReused {
		caNote = "reused"
	}
	reached := strings.Join(append(append([]string{}, names...), ips...), ", ")
	ca, crt, key := lan.CACert, lan.ServerCert, lan.ServerKey
	fmt.Fprintf(out, installGuide, ca, caNote, filepath.Join(lan.Dir, certs.CAKeyFile), crt, key, reached,
		lan.ServerNotAfter.Format("2006-01-02"), crt, key, crt, key, ca)
	return nil
}

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// installGuide is printed after `hop certs init`: Vietnamese, then English.
const installGuide = `%[1]s  CA riêng / private CA (%[2]s)
%[3]s  khoá CA, giữ kín trên máy này / CA key, keep it on this machine only
%[4]s, %[5]s  cho / for: %[6]s (hết hạn / expires %[7]s)

Chạy / Run:
  hop serve --tls-cert %[8]s --tls-key %[9]s
  # hop.yaml:  tls: {cert: %[10]s, key: %[11]s, http_redirect_port: 80}

== Tiếng Việt: cài %[12]s làm CA tin cậy trên mỗi thiết bị họp ==
  Windows  nhấp đúp ca.crt > Cài đặt chứng chỉ > Máy cục bộ > "Trusted Root Certification Authorities"
           (hoặc, quyền quản trị: certutil -addstore -f Root ca.crt)
  macOS    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.crt
  Linux    sudo cp ca.crt /usr/local/share/ca-certificates/hop-ca.crt && sudo update-ca-certificates
           Chrome: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n hop-ca -i ca.crt (gói libnss3-tools)
           Firefox (mọi hệ điều hành): Cài đặt > Riêng tư & Bảo mật > Xem chứng chỉ > Nhà cung cấp > Nhập
  Android  chép ca.crt vào máy > Cài đặt > Bảo mật > Mã hoá và thông tin xác thực > Cài đặt chứng chỉ > Chứng chỉ CA
  iOS      gửi ca.crt sang máy (AirDrop, thư) > Cài đặt > Đã tải về hồ sơ > Cài đặt;
           rồi Cài đặt chung > Giới thiệu > Cài đặt tin cậy chứng nhận > bật tin cậy cho CA này
  Chạy lại lệnh này (cùng --dir) để cấp chứng chỉ mới: CA được giữ nguyên, không phải cài lại.

== English: install ca.crt as a trusted CA on every device that joins ==
  Windows  double-click ca.crt > Install Certificate > Local Machine > "Trusted Root Certification Authorities"
           (or, as administrator: certutil -addstore -f Root ca.crt)
  macOS    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.crt
  Linux    sudo cp ca.crt /usr/local/share/ca-certificates/hop-ca.crt && sudo update-ca-certificates
           Chrome: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n hop-ca -i ca.crt (package libnss3-tools)
           Firefox (any OS): Settings > Privacy & Security > View Certificates > Authorities > Import
  Android  copy ca.crt to the device > Settings > Security > Encryption & credentials > Install a certificate > CA certificate
  iOS      send ca.crt to the device (AirDrop, mail) > Settings > Profile Downloaded > Install;
           then General > About > Certificate Trust Settings > enable full trust for this CA
  Run this again (same --dir) for a new certificate: the CA is kept, devices need nothing new.
`
