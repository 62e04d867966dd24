# installer/msi.mk - included by the Makefile: the Windows installer,
# built with wixl (msitools) from installer/pumpkinlb.wxs; any wixl warning
# fails the build. `make msi`; `make test-windows` installs it under Wine.

VERSION   := $(shell sed -n 's/.*LB_VERSION "\(.*\)"/\1/p' include/lb_version.h)
WIN_MSI   := $(WIN_BUILD)/PumpkinLB-$(VERSION)-x64.msi

# A newer version of the same MSI, for the upgrade scenario, and the same
# version built again (a new ProductCode), for the same-version upgrade.
VERSION_NEXT := $(shell echo $(VERSION) | awk -F. '{print $$1"."$$2"."$$3+1}')
WIN_MSI_NEXT := $(WIN_BUILD)/upgrade-test/PumpkinLB-$(VERSION_NEXT)-x64.msi
WIN_MSI_SAME := $(WIN_BUILD)/upgrade-test/same/PumpkinLB-$(VERSION)-x64.msi

.PHONY: msi

msi: windows $(WIN_MSI)

# Installed, upgraded and removed under Wine by `make test-windows`.
test-windows: $(WIN_MSI) $(WIN_MSI_NEXT) $(WIN_MSI_SAME)

$(WIN_MSI): installer/pumpkinlb.wxs installer/pumpkinlb-windows.cfg $(WIN_BIN) README.md LICENSE
	wixl -a x64 -D SourceDir=$(WIN_BUILD) -D DocDir=. -D Version=$(VERSION) \
	  -o $@ installer/pumpkinlb.wxs 2>$(WIN_BUILD)/wixl.log; \
	  rc=$$?; cat $(WIN_BUILD)/wixl.log >&2; \
	  if [ $$rc -ne 0 ] || grep -q WARNING $(WIN_BUILD)/wixl.log; then \
	    rm -f $@; echo "wixl failed or warned" >&2; exit 1; fi

$(WIN_MSI_NEXT): $(WIN_MSI)
	@mkdir -p $(dir $@)
	wixl -a x64 -D SourceDir=$(WIN_BUILD) -D DocDir=. -D Version=$(VERSION_NEXT) \
	  -o $@ installer/pumpkinlb.wxs

$(WIN_MSI_SAME): $(WIN_MSI)
	@mkdir -p $(dir $@)
	wixl -a x64 -D SourceDir=$(WIN_BUILD) -D DocDir=. -D Version=$(VERSION) \
	  -o $@ installer/pumpkinlb.wxs
